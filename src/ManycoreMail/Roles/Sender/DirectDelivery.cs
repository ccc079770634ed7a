using System.Net;
using System.Net.Sockets;
using ManycoreMail.Config;
using ManycoreMail.Dns;
using ManycoreMail.Smtp;
using ManycoreMail.Smtp.Client;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Sender;

/// <summary>
/// Delivers one message to the recipients of one domain: MX lookup, then each host and address in order
/// until one answers; STARTTLS when offered (and plain text again if that host's TLS is broken).
/// </summary>
internal sealed class DirectDelivery(SenderOptions options, MailRouter router, ILogger<DirectDelivery> logger)
{
    public async Task<IReadOnlyList<RecipientOutcome>> DeliverAsync(string domain, IReadOnlyList<string> recipients,
        string reversePath, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var route = await router.ResolveAsync(domain, cancellationToken).ConfigureAwait(false);
        switch (route.Status)
        {
            case MailRouteStatus.NullMx:
                return All(recipients, r => new RecipientOutcome.Bounced(r, "unroutable", route.Detail ?? $"{domain} does not accept mail (null MX)", null));
            case MailRouteStatus.NoSuchDomain:
                return All(recipients, r => new RecipientOutcome.Bounced(r, "unroutable", route.Detail ?? $"Host or domain name not found: {domain}", null));
            case MailRouteStatus.TemporaryFailure:
                return All(recipients, r => new RecipientOutcome.Deferred(r, route.Detail ?? $"DNS lookup for {domain} failed temporarily", SiteAnswered: false));
        }

        var failures = new List<string>();
        foreach (var host in route.Hosts)
        {
            foreach (var address in host.Addresses)
            {
                var endPoint = new IPEndPoint(address, options.SmtpPort);
                var outcome = await TryHostAsync(host.Name, endPoint, SmtpTlsMode.Opportunistic, recipients, reversePath, message, failures, cancellationToken).ConfigureAwait(false)
                    ?? await RetryWithoutBrokenTlsAsync(host.Name, endPoint, recipients, reversePath, message, failures, cancellationToken).ConfigureAwait(false);
                if (outcome is not null)
                {
                    return outcome;
                }
            }
        }
        var reason = failures.Count == 0 ? $"no usable mail host for {domain}" : string.Join("; ", failures.TakeLast(3));
        return All(recipients, r => new RecipientOutcome.Deferred(r, reason, SiteAnswered: false));
    }

    private async Task<IReadOnlyList<RecipientOutcome>?> RetryWithoutBrokenTlsAsync(string hostName, IPEndPoint endPoint,
        IReadOnlyList<string> recipients, string reversePath, ReadOnlyMemory<byte> message, List<string> failures, CancellationToken cancellationToken)
    {
        // Opportunistic TLS must never make mail undeliverable: a host whose TLS handshake fails gets the
        // message in plain text, as RFC 7435 and every MTA do.
        if (failures.Count == 0 || !failures[^1].Contains("TLS", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        return await TryHostAsync(hostName, endPoint, SmtpTlsMode.None, recipients, reversePath, message, failures, cancellationToken).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<RecipientOutcome>?> TryHostAsync(string hostName, IPEndPoint endPoint, SmtpTlsMode tls,
        IReadOnlyList<string> recipients, string reversePath, ReadOnlyMemory<byte> message, List<string> failures, CancellationToken cancellationToken)
    {
        var clientOptions = new SmtpClientOptions { HeloName = options.HeloName, TlsMode = tls, TargetHost = hostName };
        SmtpClientConnection connection;
        try
        {
            connection = await SmtpClientConnection.ConnectAsync(endPoint, clientOptions, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SmtpClientException or SocketException or IOException or TimeoutException)
        {
            failures.Add($"{hostName}[{endPoint.Address}]:{endPoint.Port}: {e.Message}");
            logger.LogInformation("Could not use {Host} [{EndPoint}]: {Error}", hostName, endPoint, e.Message);
            return null;
        }
        await using (connection.ConfigureAwait(false))
        {
            SmtpTransactionResult result;
            try
            {
                result = await connection.SendAsync(reversePath, recipients, message, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SmtpClientException or SocketException or IOException or TimeoutException)
            {
                failures.Add($"{hostName}[{endPoint.Address}]:{endPoint.Port}: {e.Message}");
                logger.LogInformation("Delivery to {Host} [{EndPoint}] broke off: {Error}", hostName, endPoint, e.Message);
                var reply = (e as SmtpClientException)?.Reply;
                if (reply is { IsPermanentFailure: true } permanent)
                {
                    return All(recipients, r => Bounce(r, permanent, hostName, endPoint));
                }
                return All(recipients, r => new RecipientOutcome.Deferred(r, Describe(hostName, endPoint, reply) ?? e.Message, SiteAnswered: reply is not null));
            }
            await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
            return Interpret(result, hostName, endPoint);
        }
    }

    private static IReadOnlyList<RecipientOutcome> Interpret(SmtpTransactionResult result, string hostName, IPEndPoint endPoint)
    {
        var ip = endPoint.Address.ToString();
        var outcomes = new List<RecipientOutcome>(result.RecipientReplies.Count);
        foreach (var (recipient, rcptReply) in result.RecipientReplies)
        {
            // A refused MAIL FROM applies to every recipient; otherwise the RCPT reply, then the DATA reply.
            var reply = !result.MailFromReply.IsPositive ? result.MailFromReply
                : !rcptReply.IsPositive ? rcptReply
                : result.DataReply ?? rcptReply;
            outcomes.Add(reply switch
            {
                { IsPositive: true } => new RecipientOutcome.Delivered(recipient, ip),
                { IsPermanentFailure: true } => Bounce(recipient, reply, hostName, endPoint),
                _ => new RecipientOutcome.Deferred(recipient, Describe(hostName, endPoint, reply)!, SiteAnswered: true),
            });
        }
        return outcomes;
    }

    private static RecipientOutcome Bounce(string recipient, SmtpReply reply, string hostName, IPEndPoint endPoint) =>
        new RecipientOutcome.Bounced(recipient, "hard", Describe(hostName, endPoint, reply)!, endPoint.Address.ToString());

    /// <summary>The reason text as Postfix logged it, which event consumers already parse.</summary>
    private static string? Describe(string hostName, IPEndPoint endPoint, SmtpReply? reply) =>
        reply is null ? null : $"host {hostName}[{endPoint.Address}] said: {reply}";

    private static IReadOnlyList<RecipientOutcome> All(IReadOnlyList<string> recipients, Func<string, RecipientOutcome> outcome) =>
        recipients.Select(outcome).ToArray();
}
