using ManycoreMail.Metrics;

namespace ManycoreMail.Roles.Tracker;

/// <summary>The tracker's counters in the process's registry.</summary>
internal sealed class TrackerMetrics(MetricsRegistry registry)
{
    public Counter Opens { get; } = registry.Counter("tracker_opens_total", "Open pixels served (and open events recorded).");

    public Counter Clicks { get; } = registry.Counter("tracker_clicks_total", "Tracked links redirected (and click events recorded).");

    public Counter Unsubscribes { get; } = registry.Counter("tracker_unsubscribes_total", "Unsubscribe requests (POST) carried out.");

    public Counter Refused { get; } = registry.Counter("tracker_refused_total",
        "Requests answered 404: a token that does not verify, of another kind than its path, an unknown path, or a click URL that is not http(s).");

    public Counter EventsFailed { get; } = registry.Counter("tracker_events_failed_total",
        "Open, click or unsubscribe events the events queue did not take within the deadline (answered all the same, event lost).");
}
