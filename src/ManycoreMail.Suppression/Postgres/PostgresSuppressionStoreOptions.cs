namespace ManycoreMail.Suppression.Postgres;

public sealed record PostgresSuppressionStoreOptions
{
    /// <summary>An Npgsql connection string; every process of a cluster names the same database (the event store's
    /// may be the same: the tables do not collide). The schema is created on first use.</summary>
    public required string ConnectionString { get; init; }

    /// <summary>A purge deletes at most this many entries per transaction, so that no transaction runs long.</summary>
    public int PurgeChunk { get; init; } = 5_000;
}
