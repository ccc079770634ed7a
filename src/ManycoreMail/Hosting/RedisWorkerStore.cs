using System.Collections.Concurrent;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Redis;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Hosting;

/// <summary>
/// The queue store the roles of one process see on Redis. Two things on top of <see cref="RedisQueueStore"/>:
/// <list type="bullet">
/// <item>Heartbeat. Items are leased for a short time (<c>lease-seconds</c>) and the leases of everything this
///   process still holds are renewed every third of it. A process that dies (kill -9, OOM, node lost) stops
///   renewing, and its items are back on their queues for the other instances within one short lease,
///   however long the role would have held them.</item>
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
    private readonly ConcurrentDictionary<(string Queue, long Id), LeasedItem> _held = new();
    private readonly CancellationTokenSource _disposing = new();
    private readonly Task _heartbeat;
    private int _disposed;

    public RedisWorkerStore(RedisQueueStore inner, TimeSpan lease, TimeProvider time, ILogger logger)
    {
        _inner = inner;
        _lease = lease;
        _time = time;
        _logger = logger;
        _heartbeat = Task.Run(HeartbeatAsync);
    }

    public RedisQueueStore Inner => _inner;

    /// <summary>Items leased by this process and not settled yet.</summary>
    public int HeldCount => _held.Count;

    public ValueTask EnqueueAsync(string queue, QueueItem item, CancellationToken cancellationToken) =>
        _inner.EnqueueAsync(queue, item, cancellationToken);

    public ValueTask<IReadOnlyList<LeasedItem>> LeaseAsync(string queue, int max, TimeSpan leaseFor, CancellationToken cancellationToken) =>
        LeaseAsync(queue, max, long.MaxValue, leaseFor, cancellationToken);

    public async ValueTask<IReadOnlyList<LeasedItem>> LeaseAsync(string queue, int max, long maxBytes, TimeSpan leaseFor, CancellationToken cancellationToken)
    {
        // The role's own lease time is how long it may work on an item; the heartbeat covers that, so the
        // lease in Redis is only as long as a dead holder may keep items from the others.
        var items = await _inner.LeaseAsync(queue, max, maxBytes, leaseFor < _lease ? leaseFor : _lease, cancellationToken).ConfigureAwait(false);
        foreach (var item in items)
        {
            _held[(item.Queue, item.Id)] = item;
        }
        return items;
    }

    public ValueTask WaitForItemsAsync(string queue, TimeSpan maxWait, CancellationToken cancellationToken) =>
        _inner.WaitForItemsAsync(queue, maxWait, cancellationToken);

    public ValueTask<long> CountAsync(string queue, CancellationToken cancellationToken) =>
        _inner.CountAsync(queue, cancellationToken);

    public async ValueTask CommitAsync(QueueTransaction transaction, CancellationToken cancellationToken)
    {
        var settled = Settled(transaction);
        if (settled.Count == 0)
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
            // Settled, or lost to another holder, or given up: in every case no longer ours to renew.
            foreach (var item in settled)
            {
                _held.TryRemove((item.Queue, item.Id), out _);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _disposing.CancelAsync().ConfigureAwait(false);
        try
        {
            await _heartbeat.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // stopped
        }
        await _inner.DisposeAsync().ConfigureAwait(false);
        _disposing.Dispose();
    }

    private async Task CommitRetryingAsync(QueueTransaction transaction, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
        var giveUpAt = _time.GetUtcNow() + RetrySettlementFor;
        var pause = FirstPause;
        var ambiguous = false;
        while (true)
        {
            try
            {
                await _inner.CommitAsync(transaction, stop.Token).ConfigureAwait(false);
                if (ambiguous)
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
            catch (RedisConnectionException e)
            {
                if (_time.GetUtcNow() + pause >= giveUpAt || stop.IsCancellationRequested)
                {
                    throw;
                }
                if (!ambiguous)
                {
                    _logger.LogWarning("Redis unavailable while settling leased work ({Error}); retrying until it is back", e.Message);
                }
                ambiguous = true;
                await Task.Delay(pause, _time, stop.Token).ConfigureAwait(false);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, MaxPause.Ticks));
            }
        }
    }

    private async Task HeartbeatAsync()
    {
        var interval = _lease / 3;
        // One renewal per round; the loop ends with the store.
        while (!_disposing.IsCancellationRequested)
        {
            var wait = interval;
            var held = _held.Values.ToArray();
            if (held.Length > 0)
            {
                try
                {
                    var lost = await _inner.RenewAsync(held, _lease, _disposing.Token).ConfigureAwait(false);
                    if (lost.Count > 0)
                    {
                        // Settled a moment ago, or expired while Redis was away and taken by another holder (whose
                        // work then duplicates ours; the settlement that follows finds the lease gone).
                        var lostIds = lost.ToHashSet();
                        foreach (var item in held.Where(h => lostIds.Contains(h.Id)))
                        {
                            _held.TryRemove((item.Queue, item.Id), out _);
                        }
                    }
                }
                catch (Exception e) when (e is RedisConnectionException or RedisServerException)
                {
                    // Try again soon: the leases must be renewed as soon as Redis is back.
                    _logger.LogDebug("Could not renew {Count} lease(s): {Error}", held.Length, e.Message);
                    wait = TimeSpan.FromMilliseconds(250);
                }
                catch (OperationCanceledException) when (_disposing.IsCancellationRequested)
                {
                    return;
                }
            }
            try
            {
                await Task.Delay(wait, _time, _disposing.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static List<LeasedItem> Settled(QueueTransaction transaction)
    {
        var items = new List<LeasedItem>();
        foreach (var operation in transaction.Operations)
        {
            if (operation.SettledItem is { } item)
            {
                items.Add(item);
            }
        }
        return items;
    }
}
