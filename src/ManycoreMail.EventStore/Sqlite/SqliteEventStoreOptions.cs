namespace ManycoreMail.EventStore.Sqlite;

public sealed record SqliteEventStoreOptions
{
    /// <summary>The database file (the host's choice: <c>events.db</c> under <c>storage/path</c>); created if missing.</summary>
    public required string Path { get; init; }

    /// <summary>The writer stops gathering callers' batches into one transaction once it holds this many events (a
    /// single caller's batch is never split, so a transaction can hold more).</summary>
    public int MaxEventsPerTransaction { get; init; } = 5_000;

    /// <summary>A purge deletes at most this many events per transaction, so appends wait at most one chunk.</summary>
    public int PurgeChunk { get; init; } = 5_000;

    /// <summary>How long a statement waits for another writer's lock on the file before it fails (at least 1 s).</summary>
    public TimeSpan BusyTimeout { get; init; } = SqliteEventSchema.DefaultBusyTimeout;
}
