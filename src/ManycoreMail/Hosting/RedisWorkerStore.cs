using ManycoreMail.Queue;
using ManycoreMail.Queue.Redis;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Hosting;

/// <summary>
/// The queue store the roles of one process see on Redis. Two things on top of <see cref="RedisQueueStore"/>:
/// <list type="bullet">
/// <item>Heartbeat. Items are leased for a short time (<c>lease-seconds</c>) and the leases of everything this
///   process still holds are renewed every third of it (<see cref="LeaseKeeper"/>, as on the embedded spool). A
///   process that dies (kill -9, OOM, node lost) stops renewing, and its items are back on their queues for the
///   other instances within one short lease, however long the role would have held them.</item>
/// <item>Outages. A transaction that settles leased items (the transformer's hand-off, the sender's outcome)
///   is retried while Redis is unreachable, for work already done must not be done twice. Everything else
///   passes straight through, so receivers refuse at once (451 / 503) and worker loops pause.</item>
/// </list>
/// </summary>
/// <remarks>
/// A broken connection leaves it unknown whether a script ran. Retrying a settlement is safe because it
/// checks the lease token: if the lost attempt was applied, the retry finds the lease gone and applies
/// nothing; that is reported as success, since the work is in Redis.
/// </remarks>
internal sealed class RedisWorkerStore : IQueueStore
{
    private static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxPause = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan RetrySettlementFor = TimeSpan.FromMinutes(10);

    private readonly RedisQueueStore _inner;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TimeSpan _lease;
    private readonly LeaseKeeper _keeper;
    private readonly CancellationTokenSource _disposing = new();
    private int _disposed;

    public RedisWorkerStore(RedisQueueStore inner, TimeSpan lease, TimeProvider time, ILogger logger)
    {
        _inner = inner;
        _lease = lease;
        _time = time;
        _logger = logger;
        _keeper = new LeaseKeeper(inner, time, logger);
    }

    public RedisQueueStore Inner => _inner;

    /// <summary>Items leased by this process and not settled yet.</summary>
    public int HeldCount => _keeper.HeldCount;

    public ValueTask EnqueueAsync(string queue, QueueItem item, CancellationToken cancellationToken) =>
        _inner.EnqueueAsync(queue, item, cancellationToken);

    public ValueTask<IReadOnlyList<LeasedItem>> LeaseAsync(string queue, int max, TimeSpan leaseFor, CancellationToken cancellationToken) =>
        LeaseAsync(queue, max, long.MaxValue, leaseFor, cancellationToken);

    public async ValueTask<IReadOnlyList<LeasedItem>> LeaseAsync(string queue, int max, long maxBytes, TimeSpan leaseFor, CancellationToken cancellationToken)
    {
        // The role's own lease time is how long it may work on an item; the heartbeat covers that, so the
        // lease in Redis is only as long as a dead holder may keep items from the others.
        var lease = Shortened(leaseFor);
        var items = await _inner.LeaseAsync(queue, max, maxBytes, lease, cancellationToken).ConfigureAwait(false);
        _keeper.Hold(items, lease);
        return items;
    }

    public ValueTask<IReadOnlyList<LeasedItem>> RenewAsync(IReadOnlyList<LeasedItem> items, TimeSpan leaseFor, CancellationToken cancellationToken) =>
        _inner.RenewAsync(items, Shortened(leaseFor), cancellationToken);

    public ValueTask WaitForItemsAsync(string queue, TimeSpan maxWait, CancellationToken cancellationToken) =>
        _inner.WaitForItemsAsync(queue, maxWait, cancellationToken);

    public ValueTask<long> CountAsync(string queue, CancellationToken cancellationToken) =>
        _inner.CountAsync(queue, cancellationToken);

    public ValueTask<long> ReadyCountAsync(string queue, CancellationToken cancellationToken) =>
        _inner.ReadyCountAsync(queue, cancellationToken);

    public async ValueTask CommitAsync(QueueTransaction transaction, CancellationToken cancellationToken)
    {
        if (!transaction.Operations.Any(o => o.SettledItem is not null))
        {
            // Only new items: the producer decides (a receiver refuses and its client retries).
            await _inner.CommitAsync(transaction, cancellationToken).ConfigureAwait(false);
            return;
        }
        try
        {
            await CommitRetryingAsync(transaction, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _keeper.Drop(transaction);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _disposing.CancelAsync().ConfigureAwait(false);
        await _keeper.DisposeAsync().ConfigureAwait(false);
        await _inner.DisposeAsync().ConfigureAwait(false);
        _disposing.Dispose();
    }

    private async Task CommitRetryingAsync(QueueTransaction transaction, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
        var giveUpAt = _time.GetUtcNow() + RetrySettlementFor;
        var pause = FirstPause;
        var ambiguous = false;
        var waited = false;
        while (true)
        {
            try
            {
                await _inner.CommitAsync(transaction, stop.Token).ConfigureAwait(false);
                if (waited)
                {
                    _logger.LogInformation("Redis is back: settled {Count} queue operation(s) held during the outage", transaction.Operations.Count);
                }
                return;
            }
            catch (LeaseLostException) when (ambiguous)
            {
                // The attempt whose reply was lost had been applied (or the lease ran out meanwhile and the
                // next holder does the work); either way nothing more is ours to do.
                _logger.LogDebug("Settlement found its leases gone after a lost reply: it had been applied");
                return;
            }
            // A broken connection may have lost the reply of an applied settlement (ambiguous); a server that is
            // still loading its data after a restart ran nothing. Both pass by themselves.
            catch (Exception e) when (e is QueueUnavailableException or QueueStoreException { IsTransient: true })
            {
                if (_time.GetUtcNow() + pause >= giveUpAt || stop.IsCancellationRequested)
                {
                    throw;
                }
                if (!waited)
                {
                    _logger.LogWarning("Redis unavailable while settling leased work ({Error}); retrying until it is back", e.Message);
                }
                ambiguous |= e is QueueUnavailableException;
                waited = true;
                await Task.Delay(pause, _time, stop.Token).ConfigureAwait(false);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, MaxPause.Ticks));
            }
        }
    }

    /// <summary>The lease in Redis is only as long as a dead holder may keep items from the others; the heartbeat
    /// covers the rest of the role's own lease time.</summary>
    private TimeSpan Shortened(TimeSpan leaseFor) => leaseFor < _lease ? leaseFor : _lease;
}
