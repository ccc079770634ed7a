namespace ManycoreMail.Suppression.Sqlite;

public sealed record SqliteSuppressionStoreOptions
{
    /// <summary>The database file (the host's choice: <c>suppressions.db</c> under <c>storage/path</c>); created if missing.</summary>
    public required string Path { get; init; }

    /// <summary>A purge deletes at most this many entries per transaction, so adds wait at most one chunk.</summary>
    public int PurgeChunk { get; init; } = 5_000;

    /// <summary>How long a statement waits for another writer's lock on the file (the CLI importing beside a running
    /// mailer) before it fails; at least 1 s.</summary>
    public TimeSpan BusyTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Idle read connections kept open (with their prepared statements) for the next lookup.</summary>
    public int IdleReaders { get; init; } = 4;
}
