using ManycoreMail.Delivery;
using ManycoreMail.Metrics;

namespace ManycoreMail.Roles.Sender;

/// <summary>Egress metrics: which source each delivery was given, adaptive shaping's actions, and warm-up progress.
/// The per-site families (delivered_total, connection_count, ...) carry the source in their site label
/// (<c>mx.example.com@s1</c>).</summary>
internal sealed class EgressMetrics : IEgressMetrics
{
    private readonly MetricsRegistry _registry;
    private readonly LabelledCounter _chosen;
    private readonly LabelledCounter _adaptive;

    public EgressMetrics(MetricsRegistry registry)
    {
        _registry = registry;
        _chosen = registry.Family(new LabelledCounter("sender_source_deliveries_total",
            "Deliveries (one message to one domain) given to each source, per pool and source.", "pool", "source"));
        _adaptive = registry.Family(new LabelledCounter("sender_adaptive_actions_total",
            "Actions adaptive shaping took, per rule and action (suspend, throttle, bounce).", "rule", "action"));
    }

    public void SourceChosen(string pool, string source) => _chosen.Increment(pool, source);

    public void AdaptiveAction(string rule, string action) => _adaptive.Increment(rule, action);

    /// <summary>Warm-up gauges read from the engine's ledger (today's UTC day).</summary>
    public void Watch(DeliveryEngine engine, IReadOnlyList<string> providers)
    {
        _registry.Family(new LabelledGauge("sender_warmup_sent", "Recipients given to each warming source today, per provider.", ["source", "provider"],
            () => engine.Pools.WarmUp.Progress(engine.Pools.Sources, providers).Select(p => (new[] { p.Source, p.Provider }, (double)p.Sent))));
        _registry.Family(new LabelledGauge("sender_warmup_cap", "Today's cap of each warming source, per provider.", ["source", "provider"],
            () => engine.Pools.WarmUp.Progress(engine.Pools.Sources, providers).Select(p => (new[] { p.Source, p.Provider }, (double)p.Cap))));
    }
}
