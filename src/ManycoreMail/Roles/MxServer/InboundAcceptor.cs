using System.Net;
using ManycoreMail.Dns.Spf;
using ManycoreMail.Inbound;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Smtp;
using ManycoreMail.Smtp.Server;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.MxServer;

/// <summary>
/// The MX server's side of <c>mxserver/inbound-routes</c>: which recipients a route takes, and putting their mail on
/// INBOUND-TO-CUSTOMER before the 250: one item per route holding that route's recipients, the MAIL FROM as return path,
/// a fresh id (the id and <c>webhook-id</c> every POST of the item carries) and our trace fields above the bytes
/// (<see cref="InboundTrace"/>: the SPF result is computed here, where the client address and HELO are known).
/// </summary>
internal sealed class InboundAcceptor(InboundRouteTable routes, IQueueStore store, string queue, ISpfChecker spf, string hostName,
    MetricsRegistry metrics, TimeProvider time, ILogger<InboundAcceptor> logger)
{
    /// <summary>An SPF check past this is a temperror: the sending server is waiting for our answer.</summary>
    private static readonly TimeSpan SpfDeadline = TimeSpan.FromSeconds(20);

    private readonly Counter _accepted = metrics.Counter("mxserver_inbound_accepted_total", "Mails queued for an inbound route (one per route of a mail).");

    public IReadOnlySet<string> Domains => routes.Domains;

    /// <summary>True when <paramref name="recipient"/> (already parsed as one of our addresses) has a route.</summary>
    public bool IsRouted(LocalRecipient recipient) => routes.Find(recipient.LocalPart, recipient.Domain) is not null;

    /// <summary>Queues the mail for <paramref name="recipients"/> (each routed); null when durable, else the reply to give.</summary>
    public async ValueTask<SmtpReply?> AcceptAsync(SmtpSessionInfo session, string reversePath, IReadOnlyList<LocalRecipient> recipients,
        ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var verdict = await CheckSpfAsync(session.RemoteEndPoint.Address, session.HeloName ?? "", reversePath, cancellationToken).ConfigureAwait(false);
        var prefix = InboundTrace.Prefix(hostName, verdict, session.RemoteEndPoint.Address, session.HeloName, session.IsTls, now);
        var body = new byte[prefix.Length + message.Length];
        prefix.CopyTo(body, 0);
        message.Span.CopyTo(body.AsSpan(prefix.Length));

        var transaction = new QueueTransaction();
        var byRoute = recipients
            .Select(r => (Route: routes.Find(r.LocalPart, r.Domain)!, Address: r.LocalPart + "@" + r.Domain))
            .GroupBy(r => r.Route.Match, StringComparer.OrdinalIgnoreCase);
        var items = 0;
        foreach (var group in byRoute)
        {
            var envelope = new MessageEnvelope
            {
                Uuid = Guid.NewGuid().ToString("N"),
                ReturnPath = reversePath,
                Recipients = group.Select(r => r.Address).Distinct(StringComparer.OrdinalIgnoreCase).ToArray(),
                AcceptedAt = now,
            };
            transaction.Enqueue(queue, new QueueItem(envelope, body));
            items++;
        }
        try
        {
            await store.CommitAsync(transaction, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Spool full or failing, Redis away: the sending server keeps the mail and retries.
            logger.LogError(e, "Could not queue an inbound mail from <{Sender}> for {Recipients}", reversePath, string.Join(", ", recipients));
            return new SmtpReply(451, "4.3.0", "Temporary local problem, please try again later");
        }
        _accepted.Increment(items);
        logger.LogInformation("Queued inbound mail from <{Sender}> for {Recipients} (spf={Spf})", reversePath,
            string.Join(", ", recipients.Select(r => r.LocalPart + "@" + r.Domain)), InboundTrace.ResultName(verdict.Result));
        return null;
    }

    private async ValueTask<SpfVerdict> CheckSpfAsync(IPAddress client, string helo, string mailFrom, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(SpfDeadline);
        try
        {
            return await spf.CheckAsync(client, helo, mailFrom, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The contract says it never throws for DNS data; anything else must not cost the mail.
            logger.LogWarning("SPF check for <{Sender}> from {Client} failed: {Error}", mailFrom, client, e.Message);
            return new SpfVerdict(SpfResult.TempError, mailFrom.LastIndexOf('@') is var at and >= 0 ? mailFrom[(at + 1)..] : helo, "check failed");
        }
    }
}
