using ManycoreMail.Config;
using ManycoreMail.Dns;
using ManycoreMail.Queue;
using ManycoreMail.TransportSecurity;
using ManycoreMail.TransportSecurity.MtaSts;
using ManycoreMail.TransportSecurity.Reporting;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Hosting;

/// <summary>The sender's MTA-STS, DANE and TLS-RPT parts from <c>sender/mta-sts</c>, <c>sender/dane</c>,
/// <c>sender/ca-file</c> and <c>sender/tls-rpt</c>: the gate the connector calls and, when reports are configured,
/// the hourly loop that sends each finished day's reports.</summary>
internal sealed class TransportSecurityWiring : IDisposable
{
    /// <summary>RFC 8461 §3.3 wants policy fetches bounded in time; a policy server slower than this is down.</summary>
    private static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(30);

    private readonly List<IDisposable> _owned;

    private TransportSecurityWiring(TransportSecurityGate? gate, TlsReportCollector collector, List<IDisposable> owned)
    {
        Gate = gate;
        Collector = collector;
        _owned = owned;
    }

    /// <summary>Null when both MTA-STS and DANE are off: delivery is opportunistic as before.</summary>
    public TransportSecurityGate? Gate { get; }

    public TlsReportCollector Collector { get; }

    /// <param name="policyPort">The MTA-STS policy servers' port: 443 but in tests.</param>
    public static TransportSecurityWiring Create(MailerOptions options, IDnsResolver resolver, TimeProvider time, int policyPort = 443)
    {
        var settings = options.Sender.TransportSecurity;
        var collector = new TlsReportCollector(time);
        var owned = new List<IDisposable>();
        if (!settings.MtaSts && !settings.Dane)
        {
            return new TransportSecurityWiring(null, collector, owned);
        }

        var trust = CertificateTrust.FromFile(settings.CaFile);
        MtaStsPolicySource? mtaSts = null;
        if (settings.MtaSts)
        {
            var fetcher = new MtaStsFetcher(resolver, trust, FetchTimeout, policyPort);
            owned.Add(fetcher);
            mtaSts = new MtaStsPolicySource(resolver, fetcher, new MtaStsPolicyStore(options.Storage.Path), time);
        }

        var policy = new TransportPolicy(resolver, mtaSts, settings.Dane, trust);
        return new TransportSecurityWiring(new TransportSecurityGate(policy, collector), collector, owned);
    }

    /// <summary>The hourly report loop, or null without <c>sender/tls-rpt</c>. Mailed reports are queued on the
    /// outbound queue like any message; https reports are posted through our resolver.</summary>
    public IMailerRole? ReportingRole(MailerOptions options, IDnsResolver resolver, IQueueStore store, TimeProvider time, ILogger logger)
    {
        if (options.Sender.TransportSecurity.TlsRpt is not { } identity)
        {
            return null;
        }

        var from = identity.Contact.StartsWith("mailto:", StringComparison.OrdinalIgnoreCase) ? identity.Contact["mailto:".Length..]
            : identity.Contact.Contains('@', StringComparison.Ordinal) ? identity.Contact
            : "postmaster@" + options.Sender.HeloName;
        var http = ResolvingHttp.CreateClient(resolver, CertificateTrust.FromFile(options.Sender.TransportSecurity.CaFile), FetchTimeout);
        _owned.Add(http);
        var sender = new TlsReportSender(resolver, http, new TlsReportIdentity(identity.Organization, identity.Contact, from),
            async (mail, cancellationToken) =>
            {
                var transaction = new QueueTransaction();
                transaction.Enqueue(options.Queues.Outbound, new QueueItem(new MessageEnvelope { ReturnPath = from, Recipients = [mail.Recipient] }, mail.Message));
                await store.CommitAsync(transaction, cancellationToken).ConfigureAwait(false);
            }, time);
        return HourlyPurge.Role("tls-reports", async stopping =>
        {
            var sent = await sender.SendFinishedDaysAsync(Collector, stopping).ConfigureAwait(false);
            foreach (var line in sent)
            {
                logger.LogInformation("TLS report: {Report}", line);
            }
            return sent.Count;
        }, "TLS reports", logger, time);
    }

    public void Dispose()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }
    }
}
