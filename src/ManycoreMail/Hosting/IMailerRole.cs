namespace ManycoreMail.Hosting;

/// <summary>One role of the mailer (receiver, transformer, ...). A process hosts any subset of them; roles
/// never call each other, they only share queues.</summary>
internal interface IMailerRole
{
    string Name { get; }

    /// <summary>Bind listeners or start loops; returns once the role is serving.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Stop taking new work, finish or hand back what is in hand before the token fires.</summary>
    Task StopAsync(CancellationToken cancellationToken);
}

/// <summary>The role names of the CLI (the original module names where they exist).</summary>
internal static class RoleNames
{
    public const string Receiver = "receiver";
    public const string HttpReceiver = "http-receiver";
    public const string Transformer = "transformer";
    public const string Sender = "sender";
    public const string MxServer = "mx-server";
    public const string Backdata = "backdata";
    public const string Tracker = "tracker";

    public static readonly IReadOnlyList<string> All = [Receiver, HttpReceiver, Transformer, Sender, MxServer, Backdata, Tracker];
}
