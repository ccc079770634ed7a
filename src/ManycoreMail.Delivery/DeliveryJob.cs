using System.Net;
using ManycoreMail.Smtp.Client;

namespace ManycoreMail.Delivery;

/// <summary>One address of one host of a site, in the order to try.</summary>
internal sealed record SiteHost(string Name, IPEndPoint EndPoint);

/// <summary>One transaction to make: a message to some recipients of one domain, on a site's connection.</summary>
internal sealed class DeliveryJob(string queue, string domain, IReadOnlyList<string> recipients, string reversePath,
    ReadOnlyMemory<byte> message, IReadOnlyList<SiteHost> hosts)
{
    private readonly TaskCompletionSource<IReadOnlyList<RecipientOutcome>> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The scheduled queue it came from (campaign:tenant@domain).</summary>
    public string Queue { get; } = queue;
    public string Domain { get; } = domain;
    public IReadOnlyList<string> Recipients { get; } = recipients;
    public string ReversePath { get; } = reversePath;
    public ReadOnlyMemory<byte> Message { get; } = message;
    /// <summary>Where to connect, by preference, from the route resolved when the job was made.</summary>
    public IReadOnlyList<SiteHost> Hosts { get; } = hosts;
    /// <summary>What the submitting client asked of delivery (DSN parameters, SMTPUTF8), passed on by the client.</summary>
    public SmtpDeliveryRequest Request { get; init; } = SmtpDeliveryRequest.None;

    public Task<IReadOnlyList<RecipientOutcome>> Completion => _done.Task;

    public void Complete(IReadOnlyList<RecipientOutcome> outcomes) => _done.TrySetResult(outcomes);

    public void Cancel() => _done.TrySetCanceled();

    public void DeferAll(string reason, bool siteAnswered, string bounceClass, DateTimeOffset? notBefore = null) =>
        Complete(Recipients.Select(r => (RecipientOutcome)new RecipientOutcome.Deferred(r, reason, siteAnswered, bounceClass, notBefore)).ToArray());
}
