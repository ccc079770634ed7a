using System.Net;
using ManycoreMail.Config;

namespace ManycoreMail.Cli;

/// <summary>What <c>mailer run</c> prints once started in sink mode (<c>sender/sink: true</c>, as the built-in local
/// configuration is): the three things to try, with this configuration's ports and login.</summary>
internal static class SinkModeBanner
{
    /// <param name="configArguments">The config flags a follow-up <c>./mailer</c> command needs (empty for the built-in configuration).</param>
    public static string Text(MailerOptions options, string configArguments)
    {
        // A password of the operator's files may be a secret (${ENV}, {file: ...}): only the built-in one is shown.
        var builtIn = configArguments.Length == 0;
        string Password(Credential login) => builtIn ? login.Password : "PASSWORD";
        var from = "me@" + (options.Transformer?.Domains.FirstOrDefault()?.Domain ?? "localhost");
        var lines = new List<string>
        {
            "Manycore Mail is running in sink mode (sender/sink: true): nothing is sent anywhere. Try:",
        };
        if (options.Receiver is { } receiver)
        {
            var auth = receiver.TrustedNetworks.Any(n => n.Contains(IPAddress.Loopback)) || receiver.Logins.Count == 0
                ? ""
                : $" --auth-user {receiver.Logins[0].Username} --auth-password {Password(receiver.Logins[0])}";
            lines.Add($"  swaks --server {Reachable(receiver.Bind)} --from {from} --to you@example.org --add-header 'X-Uuid: 0123abcd' --body 'Hello'{auth}");
        }
        if (options.HttpReceiver is { Logins.Count: > 0 } api)
        {
            lines.Add($"  curl -u {api.Logins[0].Username}:{Password(api.Logins[0])} -H 'Content-Type: application/json' http://{Reachable(api.Bind)}/v1/messages "
                + $"-d '{{\"from\": \"{from}\", \"subject\": \"Hello\", \"html\": \"<p>Hello</p>\", \"recipients\": [{{\"email\": \"you@example.org\"}}]}}'");
        }
        lines.Add($"Then look at {Shown(Path.Combine(options.Storage.Path, "outbox"))}/ (each message as it would have been sent, one .eml per delivery)");
        lines.Add($"and run `./mailer events{configArguments}` (what became of each recipient).");
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>A wildcard bind is reached on loopback.</summary>
    private static IPEndPoint Reachable(IPEndPoint bind) =>
        bind.Address.Equals(IPAddress.Any) || bind.Address.Equals(IPAddress.IPv6Any) ? new IPEndPoint(IPAddress.Loopback, bind.Port) : bind;

    /// <summary>Relative to the working directory when under it (./data/outbox), else absolute.</summary>
    private static string Shown(string path)
    {
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, path);
        return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? path : "./" + relative;
    }
}
