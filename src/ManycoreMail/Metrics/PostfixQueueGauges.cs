using ManycoreMail.Config;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Redis;

namespace ManycoreMail.Metrics;

/// <summary>
/// The original's postfix exporter gauges that have no postfix behind them here, served with their nearest meaning:
/// incoming = the two ingress queues (P0 + P1, accepted and not yet transformed); hold = messages held until their
/// send time (the scheduled queue: postfix's hold queue is mail set aside until an operator releases it, ours until
/// its time comes); corrupt = dead letters (items moved out of their queue for good, which an operator must look at).
/// </summary>
internal static class PostfixQueueGauges
{
    /// <summary>Dead letters are listed, not counted, by the stores: a scrape reads at most this many per queue.</summary>
    internal const int DeadLetterScrapeCap = 1000;

    public static void Register(MetricsRegistry metrics, IQueueStore store, IDeadLetterStore? deadLetters, QueueNames queues)
    {
        metrics.Gauge("postfix_incoming_queue_messages", $"Messages accepted and not yet transformed (queues {queues.Primary} and {queues.Default}).",
            async cancellationToken => await CountOrZeroAsync(store, queues.Primary, cancellationToken).ConfigureAwait(false)
                + await CountOrZeroAsync(store, queues.Default, cancellationToken).ConfigureAwait(false));
        metrics.Gauge("postfix_hold_queue_messages", $"Messages held until their send time (queue {queues.Scheduled}).",
            async cancellationToken => await CountOrZeroAsync(store, queues.Scheduled, cancellationToken).ConfigureAwait(false));
        if (deadLetters is not null)
        {
            metrics.Gauge("postfix_corrupt_queue_messages", $"Dead letters of every queue (at most {DeadLetterScrapeCap} counted per queue).",
                async cancellationToken =>
                {
                    double total = 0;
                    foreach (var queue in new[] { queues.Primary, queues.Default, queues.Outbound, queues.Events, queues.Scheduled, queues.Inbound })
                    {
                        total += await DeadLetterCountAsync(deadLetters, queue, cancellationToken).ConfigureAwait(false);
                    }
                    return total;
                });
        }
    }

    // 0.0 when the store does not answer, as the original's exporters printed (readiness says why).
    private static async ValueTask<double> CountOrZeroAsync(IQueueStore store, string queue, CancellationToken cancellationToken)
    {
        try
        {
            return await store.CountAsync(queue, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is QueueUnavailableException or QueueStoreException or ObjectDisposedException)
        {
            return 0.0;
        }
    }

    private static async ValueTask<double> DeadLetterCountAsync(IDeadLetterStore store, string queue, CancellationToken cancellationToken)
    {
        try
        {
            return (await store.ReadDeadLettersAsync(queue, DeadLetterScrapeCap, cancellationToken).ConfigureAwait(false)).Count;
        }
        catch (Exception e) when (e is QueueUnavailableException or QueueStoreException or ObjectDisposedException)
        {
            return 0.0;
        }
    }
}
