namespace ManycoreMail.Queue.Embedded;

/// <summary>The durable local spool (one machine, one process).</summary>
public sealed class EmbeddedSpool : IQueueStore
{
    public static ValueTask<EmbeddedSpool> OpenAsync(EmbeddedSpoolOptions options, TimeProvider timeProvider, CancellationToken cancellationToken) =>
        throw new NotImplementedException();

    public ValueTask EnqueueAsync(string queue, QueueItem item, CancellationToken cancellationToken) => throw new NotImplementedException();
    public ValueTask<IReadOnlyList<LeasedItem>> LeaseAsync(string queue, int max, TimeSpan leaseFor, CancellationToken cancellationToken) => throw new NotImplementedException();
    public ValueTask WaitForItemsAsync(string queue, TimeSpan maxWait, CancellationToken cancellationToken) => throw new NotImplementedException();
    public ValueTask CommitAsync(QueueTransaction transaction, CancellationToken cancellationToken) => throw new NotImplementedException();
    public ValueTask<long> CountAsync(string queue, CancellationToken cancellationToken) => throw new NotImplementedException();
    public ValueTask DisposeAsync() => throw new NotImplementedException();
}
