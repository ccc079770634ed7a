using System.Data.Common;
using System.Globalization;
using Npgsql;

namespace ManycoreMail.Suppression.Postgres;

/// <summary>The schema and statements of the PostgreSQL suppression list; the same table as SQLite's.</summary>
internal static class PostgresSuppressionSql
{
    public const int SchemaVersion = 1;

    /// <summary>Serialises schema creation, so processes starting together do not race on CREATE TABLE.</summary>
    private const long SchemaLock = 0x4D4D_5355_0001; // "MMSU" 1

    // COLLATE "C": entries sort by their bytes, as in SQLite, whatever the database's locale, so a page is the same on
    // either store and the keyset comparison agrees with the index order. Times are Unix milliseconds (UTC). The
    // version table has its own name: the event store's schema_version may live in the same database.
    private const string CreateTables = """
        CREATE TABLE suppressions (
            email text COLLATE "C" NOT NULL,
            scope text COLLATE "C" NOT NULL,
            value text COLLATE "C" NOT NULL,
            reason text NOT NULL,
            created bigint NOT NULL,
            expires bigint,
            PRIMARY KEY (email, scope, value));
        CREATE INDEX suppressions_expires ON suppressions (expires) WHERE expires IS NOT NULL;
        """;

    private const string Columns = "email, scope, value, reason, created, expires";

    /// <summary>Adds or replaces a batch given as one array per column: one statement, one plan, whatever its size.
    /// The batch must not name a key twice (ON CONFLICT may touch a row once per statement).</summary>
    public const string Upsert = $"""
        INSERT INTO suppressions ({Columns})
        SELECT * FROM unnest(@emails::text[], @scopes::text[], @values::text[], @reasons::text[], @created::bigint[], @expires::bigint[])
        ON CONFLICT (email, scope, value) DO UPDATE SET reason = excluded.reason, created = excluded.created, expires = excluded.expires
        """;

    public const string Delete = "DELETE FROM suppressions WHERE email = @email AND scope = @scope AND value = @value";

    public const string PurgeChunk = """
        DELETE FROM suppressions WHERE (email, scope, value) IN
            (SELECT email, scope, value FROM suppressions WHERE expires IS NOT NULL AND expires <= @now LIMIT @chunk)
        """;

    /// <summary>Every active entry of the addresses in <c>@emails</c>: one primary-key probe each.</summary>
    public const string Find = $"SELECT {Columns} FROM suppressions WHERE email = ANY(@emails) AND (expires IS NULL OR expires > @now)";

    /// <summary>A page after a key; the first page starts after ('', '', ''), which sorts before every entry because
    /// no address is empty.</summary>
    public const string ListAll = $"""
        SELECT {Columns} FROM suppressions WHERE (email, scope, value) > (@after_email, @after_scope, @after_value)
        ORDER BY email, scope, value LIMIT @limit
        """;

    public const string ListEmail = $"""
        SELECT {Columns} FROM suppressions WHERE email = @email AND (email, scope, value) > (@after_email, @after_scope, @after_value)
        ORDER BY email, scope, value LIMIT @limit
        """;

    /// <summary>Creates the tables on first use, or checks the version of the ones there.</summary>
    /// <exception cref="InvalidOperationException">The database has a schema version this build does not know.</exception>
    public static async Task EnsureAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, string.Create(CultureInfo.InvariantCulture, $"SELECT pg_advisory_xact_lock({SchemaLock})"), cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "CREATE TABLE IF NOT EXISTS suppressions_schema_version (version integer NOT NULL)", cancellationToken).ConfigureAwait(false);
        await using (var select = new NpgsqlCommand("SELECT MAX(version) FROM suppressions_schema_version", connection))
        {
            var found = await select.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            if (found is null or DBNull)
            {
                await ExecuteAsync(connection, CreateTables, cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(connection, string.Create(CultureInfo.InvariantCulture, $"INSERT INTO suppressions_schema_version (version) VALUES ({SchemaVersion})"), cancellationToken).ConfigureAwait(false);
            }
            else if (Convert.ToInt64(found, CultureInfo.InvariantCulture) is var version && version != SchemaVersion)
            {
                throw new InvalidOperationException($"The suppression store database {connection.Database} has schema version {version}; this build reads version {SchemaVersion}.");
            }
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    public static object Time(DateTimeOffset? time) => time is { } t ? t.ToUnixTimeMilliseconds() : DBNull.Value;

    public static SuppressionEntry Read(DbDataReader reader)
    {
        if (!SuppressionNames.TryParseScope(reader.GetString(1), out var scope) || !SuppressionNames.TryParseReason(reader.GetString(3), out var reason))
        {
            throw new InvalidDataException($"The suppression store holds an entry with scope '{reader.GetString(1)}' and reason '{reader.GetString(3)}'.");
        }

        return SuppressionEntry.Create(reader.GetString(0), scope, reader.GetString(2), reason,
            DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
            reader.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)));
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
