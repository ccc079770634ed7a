using ManycoreMail.Delivery;
using ManycoreMail.Metrics;

namespace ManycoreMail.Roles.Sender;

/// <summary>The sender's metrics: the original Postfix module's names and KumoMTA-style labelled families.</summary>
internal sealed class SenderMetrics : IDeliveryMetrics
{
    private readonly LabelledCounter _delivered;
    private readonly LabelledCounter _bounced;
    private readonly LabelledCounter _bounceClass;
    private readonly LabelledCounter _deferred;
    private readonly LabelledCounter _connectionsOpened;
    private readonly LabelledCounter _byTenant;

    public SenderMetrics(MetricsRegistry registry)
    {
        Polled = registry.Counter("postfix_emails_polled_total", "Messages taken from the outbound queue.");
        Attempted = registry.Counter("postfix_emails_to_postfix_total", "Delivery attempts made (once per message per attempt).");
        _delivered = registry.Family(new LabelledCounter("delivered_total", "Recipients delivered, per site.", "site"));
        _bounced = registry.Family(new LabelledCounter("bounced_total", "Recipients bounced, per site and bounce type (hard, soft, unroutable).", "site", "type"));
        _bounceClass = registry.Family(new LabelledCounter("bounce_class_total", "Failed recipients per site and classification (invalid-recipient, mailbox-full, spam-block, ...).", "site", "class"));
        _deferred = registry.Family(new LabelledCounter("deferred_total", "Recipients deferred for a later attempt, per site.", "site"));
        _connectionsOpened = registry.Family(new LabelledCounter("connections_opened_total", "SMTP connections opened, per site.", "site"));
        _byTenant = registry.Family(new LabelledCounter("mailer_messages_by_tenant_total",
            "Recipients settled per tenant and outcome (delivered, bounced, deferred); tenant \"\" for mail without one.", "tenant", "outcome"));
        AcceptToDelivery = registry.Family(Histogram.OfMessageLatency("accept_to_delivery_seconds",
            "Seconds from the customer's message being accepted to a recipient's MX taking it, per delivered recipient."));
        QueueWait = registry.Family(Histogram.OfMessageLatency("sender_queue_wait_seconds",
            "Seconds from the transformer's hand-off to the sender's lease, per message on its first attempt."));
        Delivery = registry.Family(Histogram.OfMessageLatency("sender_delivery_seconds",
            "Seconds from the sender's lease to a recipient's MX taking it, per delivered recipient."));
    }

    public Histogram AcceptToDelivery { get; }

    /// <summary>Outbound queue wait: hand-off (the outbound item's creation) to lease.</summary>
    public Histogram QueueWait { get; }

    /// <summary>The sender's own part: lease to delivered, a site's ready queue and the SMTP transaction included.</summary>
    public Histogram Delivery { get; }

    public Counter Polled { get; }
    public Counter Attempted { get; }
    public LabelledCounter Delivered => _delivered;
    public LabelledCounter Deferred => _deferred;
    public LabelledCounter ConnectionsOpened => _connectionsOpened;

    public void ConnectionOpened(string site) => _connectionsOpened.Increment(site);

    public void ConnectionClosed(string site)
    {
        // connection_count is read live from the sites; nothing to count here.
    }

    public void Record(string site, IReadOnlyList<RecipientOutcome> outcomes)
    {
        foreach (var outcome in outcomes)
        {
            switch (outcome)
            {
                case RecipientOutcome.Delivered:
                    _delivered.Increment(site);
                    break;
                case RecipientOutcome.Bounced b:
                    Bounced(site, b.Type, b.Class);
                    break;
                case RecipientOutcome.Deferred d:
                    _deferred.Increment(site);
                    _bounceClass.Increment(site, d.Class);
                    break;
            }
        }
    }

    /// <summary>One settled attempt's recipients under their tenant; counted once the settlement is committed, so that
    /// a lost lease (the new holder settles again) counts nothing.</summary>
    public void RecordTenant(string? tenant, int delivered, int bounced, int deferred)
    {
        foreach (var (outcome, count) in (ReadOnlySpan<(string, int)>)[("delivered", delivered), ("bounced", bounced), ("deferred", deferred)])
        {
            if (count > 0)
            {
                _byTenant.Increment(count, tenant ?? "", outcome);
            }
        }
    }

    public void Bounced(string site, string type, string bounceClass)
    {
        _bounced.Increment(site, type);
        _bounceClass.Increment(site, bounceClass);
    }
}
