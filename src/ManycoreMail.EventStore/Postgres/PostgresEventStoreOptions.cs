namespace ManycoreMail.EventStore.Postgres;

public sealed record PostgresEventStoreOptions
{
    /// <summary>An Npgsql connection string (<c>events/postgresql</c>). Every process of a cluster names the same
    /// database; the schema is created on first open.</summary>
    public required string ConnectionString { get; init; }

    /// <summary>The writer stops gathering callers' batches into one transaction once it holds this many events (a
    /// single caller's batch is never split, so a transaction can hold more).</summary>
    public int MaxEventsPerTransaction { get; init; } = 5_000;

    /// <summary>A purge deletes at most this many events per transaction, so that no transaction runs long.</summary>
    public int PurgeChunk { get; init; } = 5_000;
}
