using ManycoreMail.Config;
using ManycoreMail.Dkim;
using ManycoreMail.Dns;
using ManycoreMail.Dns.Spf;
using ManycoreMail.Metrics;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.ReportAuthentication;

/// <summary>
/// The MX server's report authentication as configured: how a mail's sender is checked, which reports are believed,
/// and whether the rest may still suppress (<c>mxserver/suppress-unauthenticated</c>, false by default: a forged
/// bounce, complaint or unsubscribe mail becomes an event marked <c>authenticated: false</c> and nothing more).
/// </summary>
internal sealed class ReportPolicy(SenderAuthenticator sender, ReportTrust trust, bool suppressUnauthenticated, MetricsRegistry metrics)
{
    /// <summary>The kinds counted in <c>mxserver_unauthenticated_reports_total</c>.</summary>
    public const string Bounce = "bounce", Complaint = "complaint", Unsubscribe = "unsubscribe", AutoReply = "autoreply";

    private readonly LabelledCounter _unauthenticated = metrics.Family(
        new LabelledCounter("mxserver_unauthenticated_reports_total", "Reports (bounces, complaints, unsubscribe mails, auto-replies) that were not authenticated, per kind.", "kind"));

    /// <summary>The policy <paramref name="options"/> configure, asking <paramref name="dns"/>; reads the Public Suffix
    /// List once (a missing list: one warning, exact-domain alignment).</summary>
    public static ReportPolicy Create(MxServerOptions options, IDnsResolver dns, MetricsRegistry metrics, TimeProvider time, ILoggerFactory loggers)
    {
        var suffixes = PublicSuffixList.Load(options.PublicSuffixList, loggers.CreateLogger<PublicSuffixList>());
        var sender = new SenderAuthenticator(new SpfEvaluator(dns, options.ReportAuthenticationTimeout),
            new DkimVerifier(new DnsDkimKeyResolver(dns), time), options.ReportAuthenticationTimeout, loggers.CreateLogger<SenderAuthenticator>());
        return new ReportPolicy(sender, new ReportTrust(options.FeedbackLoops, suffixes), options.SuppressUnauthenticated, metrics);
    }

    public SenderAuthenticator Sender => sender;

    public ReportTrust Trust => trust;

    /// <summary>Counts one report (a mail, whatever number of events it gives) that was not authenticated.</summary>
    public void Count(bool authenticated, string kind)
    {
        if (!authenticated)
        {
            _unauthenticated.Increment(kind);
        }
    }

    /// <summary>True when a report may add suppression entries.</summary>
    public bool Suppresses(bool authenticated) => authenticated || suppressUnauthenticated;
}
