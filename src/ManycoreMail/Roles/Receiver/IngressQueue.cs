using ManycoreMail.Config;
using ManycoreMail.Ingress;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;

namespace ManycoreMail.Roles.Receiver;

/// <summary>Puts an accepted submission on the primary or default queue, durably, and counts it under the
/// original receivers' metric names.</summary>
internal sealed class IngressQueue(IQueueStore store, QueueNames names, MetricsRegistry metrics)
{
    private readonly Counter _enqueued = metrics.Counter("nbr_emails_enqueued_total", "Messages accepted and queued.");
    private readonly Counter _recipients = metrics.Counter("nbr_recipients_total", "Recipients (To, Cc, Bcc) of queued messages.");
    private readonly Counter _dropped = metrics.Counter("nbr_dropped_emails_total", "Messages refused or not queued.");

    public async ValueTask EnqueueAsync(IngressMessage message, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        var queue = message.IsPrimary ? names.Primary : names.Default;
        await store.EnqueueAsync(queue, new QueueItem(new MessageEnvelope { Uuid = message.Uuid }, bytes), cancellationToken).ConfigureAwait(false);
        _enqueued.Increment();
        _recipients.Increment(message.RecipientCount);
    }

    public void CountDropped() => _dropped.Increment();
}
