namespace ManycoreMail.Queue.Embedded;

public sealed record EmbeddedSpoolOptions
{
    /// <summary>Directory holding the spool; created when missing.</summary>
    public required string Path { get; init; }

    /// <summary>How long the committer waits to gather more writes into one sync. It waits only while
    /// writers seem to be on their way (the batch is smaller than the previous one), so a lone writer
    /// never pays it. Measured on the real clock: it is about disks, not about queue time.</summary>
    public TimeSpan GroupCommitWindow { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>How often expired leases are returned to their queue. The embedded spool needs no sweeper
    /// (a leased item's due time is its lease expiry, so it is due again by itself); this is the longest a
    /// <see cref="IQueueStore.WaitForItemsAsync"/> call sleeps before it re-reads due times from disk.</summary>
    public TimeSpan LeaseSweepInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Most caller transactions (including single enqueues) that share one sync.</summary>
    public int MaxBatchTransactions { get; init; } = 512;

    /// <summary>Once a batch holds this many body bytes the committer stops adding to it.</summary>
    public long MaxBatchBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>Writes waiting for the committer before writers are made to wait (back pressure).</summary>
    public int MaxPendingWrites { get; init; } = 8192;

    /// <summary>Read connections (lease bodies, counts, due times) open at once.</summary>
    public int MaxReaders { get; init; } = 4;
}
