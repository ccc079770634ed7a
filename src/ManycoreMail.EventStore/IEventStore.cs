namespace ManycoreMail.EventStore;

/// <summary>
/// Every event the mailer reports, kept in SQL so it can be queried after the webhook has seen it. Implementations:
/// <see cref="Sqlite.SqliteEventStore"/> (one process, <c>storage/path</c>) and, for a cluster,
/// <see cref="Postgres.PostgresEventStore"/>.
/// </summary>
/// <remarks>
/// Appends are at least once: a caller that sees an exception or cancels may find its batch written anyway, so it
/// keeps the events on its queue and appends them again. Ids grow with every append and are never reused, even after
/// a purge, so a cursor stays valid for as long as the caller holds it.
/// </remarks>
public interface IEventStore : IAsyncDisposable
{
    /// <summary>Writes the events in one transaction (possibly shared with other callers' batches) and completes when
    /// it has committed. The events get ids in list order.</summary>
    Task AppendAsync(IReadOnlyList<StoredEventInput> events, CancellationToken cancellationToken);

    /// <summary>One page of the events matching every filter given, oldest first.</summary>
    /// <exception cref="ArgumentException">The query's cursor is not one this store handed out.</exception>
    Task<EventPage> QueryAsync(EventQuery query, CancellationToken cancellationToken);

    /// <summary>Deletes every event whose timestamp is before <paramref name="cutoff"/>, a bounded chunk per
    /// transaction so that appends go on meanwhile; returns how many it deleted.</summary>
    Task<long> PurgeOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken);
}
