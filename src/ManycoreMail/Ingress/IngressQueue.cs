using ManycoreMail.Config;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Redis;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Ingress;

/// <summary>Puts an accepted submission on the primary or default queue, durably, and counts it under the
/// original receivers' metric names.</summary>
internal sealed class IngressQueue(IQueueStore store, QueueNames names, MetricsRegistry metrics, ILogger<IngressQueue> logger)
{
    private readonly Counter _enqueued = metrics.Counter("nbr_emails_enqueued_total", "Messages accepted and queued.");
    private readonly Counter _recipients = metrics.Counter("nbr_recipients_total", "Recipients (To, Cc, Bcc) of queued messages.");
    private readonly Counter _dropped = metrics.Counter("nbr_dropped_emails_total", "Messages refused or not queued.");

    /// <summary>Queues the message durably; false (logged, counted as dropped) when the queue cannot take
    /// it now, which the receivers answer with a temporary refusal.</summary>
    public async ValueTask<bool> TryEnqueueAsync(IngressMessage message, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        var queue = message.IsPrimary ? names.Primary : names.Default;
        try
        {
            await store.EnqueueAsync(queue, new QueueItem(new MessageEnvelope { Uuid = message.Uuid }, bytes), cancellationToken).ConfigureAwait(false);
        }
        catch (RedisConnectionException e)
        {
            // An outage refuses every submission: one line each, no stack trace.
            _dropped.Increment();
            logger.LogWarning("Refused message {Uuid}: the queue is unavailable ({Error})", message.Uuid, e.Message);
            return false;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _dropped.Increment();
            logger.LogError(e, "Could not queue message {Uuid}", message.Uuid);
            return false;
        }
        _enqueued.Increment();
        _recipients.Increment(message.RecipientCount);
        return true;
    }

    public void CountDropped() => _dropped.Increment();
}
