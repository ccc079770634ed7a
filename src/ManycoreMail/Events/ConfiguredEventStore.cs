using ManycoreMail.Config;
using ManycoreMail.EventStore;
using ManycoreMail.EventStore.Postgres;
using ManycoreMail.EventStore.Sqlite;

namespace ManycoreMail.Events;

/// <summary>The event store the <c>events</c> section names: SQLite in <c>storage/path</c>, or PostgreSQL.</summary>
internal static class ConfiguredEventStore
{
    /// <summary>Opens the store for appending (the backdata role), creating it if needed.</summary>
    public static async Task<IEventStore> OpenAsync(EventsOptions events, StorageOptions storage, CancellationToken cancellationToken) =>
        events.Postgresql is { } connectionString
            ? await PostgresEventStore.OpenAsync(new PostgresEventStoreOptions { ConnectionString = connectionString }, cancellationToken).ConfigureAwait(false)
            : SqliteEventStore.Open(new SqliteEventStoreOptions { Path = EventsOptions.SqlitePath(storage) });

    /// <summary>Queries the store without opening it for writing, beside whichever process appends. Null when there
    /// is no store yet (nothing has been appended anywhere).</summary>
    /// <exception cref="ArgumentException">The query is invalid (limit, time window, cursor).</exception>
    public static async Task<EventPage?> TryQueryAsync(EventsOptions events, StorageOptions storage, EventQuery query, CancellationToken cancellationToken)
    {
        if (events.Postgresql is { } connectionString)
        {
            return await PostgresEventStore.QueryDatabaseAsync(connectionString, query, cancellationToken).ConfigureAwait(false);
        }
        var path = EventsOptions.SqlitePath(storage);
        if (!File.Exists(path))
        {
            query.Validate();
            return null;
        }
        return await SqliteEventStore.QueryFileAsync(path, query, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Where the store is, for messages; never the connection string, which may hold a password.</summary>
    public static string Describe(EventsOptions events, StorageOptions storage) =>
        events.Postgresql is null ? "at " + EventsOptions.SqlitePath(storage) : "in the PostgreSQL database of events/postgresql";
}
