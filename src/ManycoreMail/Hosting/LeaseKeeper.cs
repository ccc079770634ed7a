using System.Collections.Concurrent;
using ManycoreMail.Queue;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Hosting;

/// <summary>
/// Keeps the leases of the items a process is still working on. Each held item is renewed for its own lease time
/// every third of it (<see cref="IQueueStore.RenewAsync"/>) until its holder settles it, so a slow site that holds
/// a message past its lease does not see it leased again and delivered twice. The same mechanism for both
/// backends: the embedded spool's store and Redis's (<see cref="RedisWorkerStore"/>) hold their roles' leases here.
/// </summary>
/// <remarks>A lease found lost (renewals failed until it expired and someone else leased the item) is no longer
/// renewed: its holder's settlement then fails with <see cref="LeaseLostException"/>, so the outcome is recorded
/// once, by the new holder.</remarks>
internal sealed class LeaseKeeper : IAsyncDisposable
{
    /// <summary>The longest the keeper sleeps, so that it sees new items; it wakes earlier when a renewal falls due.</summary>
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ShortestSleep = TimeSpan.FromMilliseconds(10);
    /// <summary>After a failed renewal (Redis away, spool busy): try again soon, the leases are running out.</summary>
    private static readonly TimeSpan RetryAfterFailure = TimeSpan.FromMilliseconds(250);

    private readonly IQueueStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<(string Queue, long Id), Held> _held = new();
    private readonly CancellationTokenSource _disposing = new();
    private readonly Task _loop;
    private int _disposed;

    public LeaseKeeper(IQueueStore store, TimeProvider time, ILogger logger)
    {
        _store = store;
        _time = time;
        _logger = logger;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Items held and not settled yet.</summary>
    public int HeldCount => _held.Count;

    /// <summary>Keeps <paramref name="items"/>, just leased for <paramref name="leaseFor"/>, leased until they are dropped.</summary>
    public void Hold(IReadOnlyList<LeasedItem> items, TimeSpan leaseFor)
    {
        var renewAt = _time.GetUtcNow() + RenewalInterval(leaseFor);
        foreach (var item in items)
        {
            _held[(item.Queue, item.Id)] = new Held(item, leaseFor, renewAt);
        }
    }

    /// <summary>Stops renewing every item <paramref name="transaction"/> settles (settled, lost, or given up: in every
    /// case no longer the holder's to keep).</summary>
    public void Drop(QueueTransaction transaction)
    {
        foreach (var operation in transaction.Operations)
        {
            if (operation.SettledItem is { } item)
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
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // stopped
        }
        _disposing.Dispose();
    }

    private static TimeSpan RenewalInterval(TimeSpan leaseFor) => leaseFor / 3;

    private async Task RunAsync()
    {
        var stopping = _disposing.Token;
        // One round per tick; the loop ends with the keeper.
        while (!stopping.IsCancellationRequested)
        {
            var wait = await RenewDueAsync(stopping).ConfigureAwait(false) ? UntilNextRenewal() : RetryAfterFailure;
            await Task.Delay(wait, _time, stopping).ConfigureAwait(false);
        }
    }

    private TimeSpan UntilNextRenewal()
    {
        var now = _time.GetUtcNow();
        var wait = Tick;
        foreach (var held in _held.Values)
        {
            var until = held.RenewAt - now;
            wait = until < wait ? until : wait;
        }
        return wait < ShortestSleep ? ShortestSleep : wait;
    }

    /// <summary>Renews every lease a third of whose time has passed since it was last renewed; false when the store failed.</summary>
    private async Task<bool> RenewDueAsync(CancellationToken stopping)
    {
        var now = _time.GetUtcNow();
        var due = _held.Values.Where(h => h.RenewAt <= now).ToArray();
        var ok = true;
        foreach (var group in due.GroupBy(h => h.LeaseFor))
        {
            IReadOnlyList<LeasedItem> lost;
            try
            {
                lost = await _store.RenewAsync(group.Select(h => h.Item).ToArray(), group.Key, stopping).ConfigureAwait(false);
            }
            catch (Exception e) when (!stopping.IsCancellationRequested)
            {
                // The store is away (Redis outage) or busy: the leases stay due and are tried again shortly.
                _logger.LogDebug("Could not renew {Count} lease(s): {Error}", group.Count(), e.Message);
                ok = false;
                continue;
            }
            var renewAt = now + RenewalInterval(group.Key);
            foreach (var held in group)
            {
                var key = (held.Item.Queue, held.Item.Id);
                if (lost.Contains(held.Item))
                {
                    // Settled a moment ago, or taken by another holder after it expired: its settlement will find it lost.
                    if (_held.TryRemove(new KeyValuePair<(string, long), Held>(key, held)))
                    {
                        _logger.LogInformation("Lease on item {Id} of queue {Queue} is no longer held (just settled, or expired and taken by another holder)",
                            held.Item.Id, held.Item.Queue);
                    }
                }
                else
                {
                    // Unless dropped meanwhile: a settled item is never held again.
                    _held.TryUpdate(key, held with { RenewAt = renewAt }, held);
                }
            }
        }
        return ok;
    }

    private sealed record Held(LeasedItem Item, TimeSpan LeaseFor, DateTimeOffset RenewAt);
}
