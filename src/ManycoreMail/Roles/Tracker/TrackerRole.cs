using ManycoreMail.Config;
using ManycoreMail.Events;
using ManycoreMail.Hosting;
using ManycoreMail.Metrics;
using ManycoreMail.Suppression;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Tracker;

/// <summary>The tracker role (<c>mailer tracker</c>, and <c>mailer run</c> with a <c>tracking</c> section): its
/// endpoint on <c>tracking/bind</c>, served by the process's one HTTP server. Stateless, so any number of
/// instances may run behind one base-url.</summary>
internal static class TrackerRole
{
    /// <summary>How long a pixel or a redirect waits for the events queue at most.</summary>
    public static readonly TimeSpan EventDeadline = TimeSpan.FromSeconds(2);

    public static HttpSite Create(TrackingOptions tracking, SuppressionOptions suppression, EventQueue events,
        ISuppressionStore suppressions, MetricsRegistry registry, TimeProvider time, ILoggerFactory loggers)
    {
        var metrics = new TrackerMetrics(registry);
        var endpoint = new TrackerEndpoint(tracking.Bind, tracking.CreateUrls(),
            new TrackerEvents(events, EventDeadline, metrics, loggers.CreateLogger<TrackerEvents>()),
            suppressions, suppression, new MachineDetector(), new ForwardedClient(tracking.TrustedProxies), metrics, time,
            loggers.CreateLogger<TrackerEndpoint>());
        return new HttpSite(tracking.Bind, endpoint.HandleAsync);
    }
}
