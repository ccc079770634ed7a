using ManycoreMail.Queue;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Hosting;

/// <summary>
/// The queue store the roles of one process see on the embedded spool: what a role leases stays leased while it works
/// on it (<see cref="LeaseKeeper"/>), however long that takes, and is released by its settlement. Without it a
/// message held by a slow site past its lease was leased again and delivered twice.
/// </summary>
internal sealed class LeaseKeepingStore : IQueueStore
{
    private readonly IQueueStore _inner;
    private readonly LeaseKeeper _keeper;

    public LeaseKeepingStore(IQueueStore inner, TimeProvider time, ILogger logger)
    {
        _inner = inner;
        _keeper = new LeaseKeeper(inner, time, logger);
    }

    /// <summary>The store underneath (the spool, for what only it offers: its dead letters).</summary>
    public IQueueStore Inner => _inner;

    /// <summary>Items leased by this process and not settled yet.</summary>
    public int HeldCount => _keeper.HeldCount;

    public ValueTask EnqueueAsync(string queue, QueueItem item, CancellationToken cancellationToken) =>
        _inner.EnqueueAsync(queue, item, cancellationToken);

    public ValueTask<IReadOnlyList<LeasedItem>> LeaseAsync(string queue, int max, TimeSpan leaseFor, CancellationToken cancellationToken) =>
        LeaseAsync(queue, max, long.MaxValue, leaseFor, cancellationToken);

    public async ValueTask<IReadOnlyList<LeasedItem>> LeaseAsync(string queue, int max, long maxBytes, TimeSpan leaseFor, CancellationToken cancellationToken)
    {
        var items = await _inner.LeaseAsync(queue, max, maxBytes, leaseFor, cancellationToken).ConfigureAwait(false);
        _keeper.Hold(items, leaseFor);
        return items;
    }

    public ValueTask<IReadOnlyList<LeasedItem>> RenewAsync(IReadOnlyList<LeasedItem> items, TimeSpan leaseFor, CancellationToken cancellationToken) =>
        _inner.RenewAsync(items, leaseFor, cancellationToken);

    public ValueTask WaitForItemsAsync(string queue, TimeSpan maxWait, CancellationToken cancellationToken) =>
        _inner.WaitForItemsAsync(queue, maxWait, cancellationToken);

    public ValueTask<long> CountAsync(string queue, CancellationToken cancellationToken) =>
        _inner.CountAsync(queue, cancellationToken);

    public ValueTask<long> ReadyCountAsync(string queue, CancellationToken cancellationToken) =>
        _inner.ReadyCountAsync(queue, cancellationToken);

    public async ValueTask CommitAsync(QueueTransaction transaction, CancellationToken cancellationToken)
    {
        try
        {
            await _inner.CommitAsync(transaction, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _keeper.Drop(transaction);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _keeper.DisposeAsync().ConfigureAwait(false);
        await _inner.DisposeAsync().ConfigureAwait(false);
    }
}
