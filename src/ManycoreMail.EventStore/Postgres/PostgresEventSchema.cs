using System.Globalization;
using Npgsql;

namespace ManycoreMail.EventStore.Postgres;

/// <summary>The PostgreSQL side of the schema <see cref="EventSql"/> describes, and the locks that order appends.</summary>
internal static class PostgresEventSchema
{
    /// <summary>
    /// Taken (transaction-scoped) by every append before its rows draw ids, so appends commit one at a time in id
    /// order across every process on the database. Without it two writers' transactions could draw ids 10 and 11 and
    /// commit 11 first; a reader paging with <c>after</c> would then see 11, move its cursor past 10 and never see
    /// it. Appends are batched, so the cost is one lock per group commit. The numbers are arbitrary but fixed: they
    /// are what every process agrees on.
    /// </summary>
    public const long AppendLock = 0x4D4D_4556_0001; // "MMEV" 1

    /// <summary>Serialises schema creation, so processes starting together do not race on CREATE TABLE.</summary>
    private const long SchemaLock = 0x4D4D_4556_0002;

    // bigint identity: never reused, even after a purge emptied the table, so a held cursor stays valid (the reason
    // SQLite's table says AUTOINCREMENT). Each filter's index ends with the id, as in SQLite, so a page is a range
    // scan in id order.
    private const string CreateTables = """
        CREATE TABLE events (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            ts bigint NOT NULL,
            event text NOT NULL,
            uuid text,
            email text,
            body bytea NOT NULL);
        CREATE INDEX events_uuid ON events (uuid, id);
        CREATE INDEX events_email ON events (email, id);
        CREATE INDEX events_event ON events (event, id);
        CREATE INDEX events_ts ON events (ts);
        """;

    /// <summary>The binary COPY every append uses; ids come from the identity, in row order.</summary>
    public const string Copy = "COPY events (ts, event, uuid, email, body) FROM STDIN (FORMAT BINARY)";

    public static readonly string LockAppends = string.Create(CultureInfo.InvariantCulture, $"SELECT pg_advisory_xact_lock({AppendLock})");

    /// <summary>Creates the tables on first use, or checks the version of the ones there.</summary>
    /// <exception cref="InvalidOperationException">The database has a schema version this build does not know.</exception>
    public static async Task EnsureAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, string.Create(CultureInfo.InvariantCulture, $"SELECT pg_advisory_xact_lock({SchemaLock})"), cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)", cancellationToken).ConfigureAwait(false);
        await using (var select = new NpgsqlCommand(EventSql.SelectVersion, connection))
        {
            var found = await select.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            if (found is null or DBNull)
            {
                await ExecuteAsync(connection, CreateTables, cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(connection, string.Create(CultureInfo.InvariantCulture, $"INSERT INTO schema_version (version) VALUES ({EventSql.SchemaVersion})"), cancellationToken).ConfigureAwait(false);
            }
            else if (Convert.ToInt64(found, CultureInfo.InvariantCulture) is var version && version != EventSql.SchemaVersion)
            {
                throw new InvalidOperationException($"The event store database {connection.Database} has schema version {version}; this build reads version {EventSql.SchemaVersion}.");
            }
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
