using ManycoreMail.Config;
using ManycoreMail.Dns;
using ManycoreMail.Queue;
using ManycoreMail.TransportSecurity;
using ManycoreMail.TransportSecurity.MtaSts;
using ManycoreMail.TransportSecurity.Reporting;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Hosting;

/// <summary>The sender's MTA-STS, DANE and TLS-RPT parts from <c>sender/mta-sts</c>, <c>sender/dane</c>,
/// <c>sender/ca-file</c> and <c>sender/tls-rpt</c>: the gate the connector calls and the loops around it (the hourly
/// MTA-STS refresh; with reports configured, the tallies saved to <c>tls-rpt.json</c> and each finished day's
/// reports sent).</summary>
internal sealed class TransportSecurityWiring : IDisposable
{
    /// <summary>RFC 8461 §3.3 wants policy fetches bounded in time; a policy server slower than this is down.</summary>
    private static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(30);

    /// <summary>A crash loses at most this much of the day's counts; a clean stop loses none.</summary>
    private static readonly TimeSpan SaveInterval = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan Hourly = TimeSpan.FromHours(1);

    private readonly List<IDisposable> _owned;
    private readonly MtaStsPolicySource? _mtaSts;

    private TransportSecurityWiring(TransportSecurityGate? gate, TlsReportCollector? collector, MtaStsPolicySource? mtaSts, List<IDisposable> owned)
    {
        Gate = gate;
        Collector = collector;
        _mtaSts = mtaSts;
        _owned = owned;
    }

    /// <summary>Null when both MTA-STS and DANE are off: delivery is opportunistic as before.</summary>
    public TransportSecurityGate? Gate { get; }

    /// <summary>Null without <c>sender/tls-rpt</c>: sessions are not counted when no report will be sent.</summary>
    public TlsReportCollector? Collector { get; }

    /// <param name="policyPort">The MTA-STS policy servers' port: 443 but in tests.</param>
    /// <exception cref="InvalidDataException">A cache or tally file in <c>storage/path</c> is unreadable; the message names it.</exception>
    public static TransportSecurityWiring Create(MailerOptions options, IDnsResolver resolver, TimeProvider time, int policyPort = 443)
    {
        var settings = options.Sender.TransportSecurity;
        var collector = settings.TlsRpt is null ? null : new TlsReportCollector(time, new TlsReportFile(options.Storage.Path));
        var owned = new List<IDisposable>();
        if (!settings.MtaSts && !settings.Dane)
        {
            return new TransportSecurityWiring(null, collector, null, owned);
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
        return new TransportSecurityWiring(new TransportSecurityGate(policy, (ITlsReportSink?)collector ?? NoTlsReports.Instance), collector, mtaSts, owned);
    }

    /// <summary>The background loops: <c>mta-sts-refresh</c> with MTA-STS on, <c>tls-reports</c> with
    /// <c>sender/tls-rpt</c>. Mailed reports are queued on the outbound queue like any message; https reports are
    /// posted through our resolver.</summary>
    public IReadOnlyList<IMailerRole> Roles(MailerOptions options, IDnsResolver resolver, IQueueStore store, TimeProvider time, ILogger logger)
    {
        var roles = new List<IMailerRole>(2);
        if (_mtaSts is { } mtaSts)
        {
            roles.Add(new BackgroundLoop("mta-sts-refresh", async stopping =>
            {
                while (!stopping.IsCancellationRequested)
                {
                    foreach (var line in await mtaSts.RefreshAsync(stopping).ConfigureAwait(false))
                    {
                        logger.LogInformation("MTA-STS policy {Refresh}", line);
                    }

                    await Task.Delay(Hourly, time, stopping).ConfigureAwait(false);
                }
            }, logger, time));
        }

        if (ReportingRole(options, resolver, store, time, logger) is { } reports)
        {
            roles.Add(reports);
        }

        return roles;
    }

    private IMailerRole? ReportingRole(MailerOptions options, IDnsResolver resolver, IQueueStore store, TimeProvider time, ILogger logger)
    {
        if (options.Sender.TransportSecurity.TlsRpt is not { } identity || Collector is not { } collector)
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
        var loop = new BackgroundLoop("tls-reports", async stopping =>
        {
            var nextSend = DateTimeOffset.MinValue;
            while (!stopping.IsCancellationRequested)
            {
                if (time.GetUtcNow() >= nextSend)
                {
                    nextSend = time.GetUtcNow() + Hourly;
                    foreach (var line in await sender.SendFinishedDaysAsync(collector, stopping).ConfigureAwait(false))
                    {
                        logger.LogInformation("TLS report: {Report}", line);
                    }
                }

                await collector.SaveAsync(stopping).ConfigureAwait(false);
                await Task.Delay(SaveInterval, time, stopping).ConfigureAwait(false);
            }
        }, logger, time);
        return new SavingOnStop(loop, collector);
    }

    /// <summary>The report loop, whose counts are written once more when it stops: what was counted since the last
    /// save would otherwise be lost to a restart (the loop may be stopped before it ever ran).</summary>
    private sealed class SavingOnStop(BackgroundLoop loop, TlsReportCollector collector) : IMailerRole
    {
        public string Name => loop.Name;

        public Task StartAsync(CancellationToken cancellationToken) => loop.StartAsync(cancellationToken);

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            await loop.StopAsync(cancellationToken).ConfigureAwait(false);
            await collector.SaveAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }
    }

    /// <summary>The sink without <c>sender/tls-rpt</c>: nothing would ever send the counts, so none are kept.</summary>
    private sealed class NoTlsReports : ITlsReportSink
    {
        public static readonly NoTlsReports Instance = new();

        public void Record(TlsSessionResult result)
        {
        }
    }
}
