using System.Globalization;
using Microsoft.Data.Sqlite;

namespace ManycoreMail.Suppression.Sqlite;

/// <summary>The schema, connections and statements of the SQLite suppression list.</summary>
internal static class SqliteSuppressionSql
{
    public const int SchemaVersion = 1;

    // WITHOUT ROWID: the primary key is the table, so a lookup by address is one b-tree descent that finds the
    // whole entry, and a keyset page is a range scan of it in list order. Scope and reason are their lower-case
    // names, so the file reads alike from the sqlite3 shell; times are Unix milliseconds (UTC). The partial index
    // on expires lets a purge find expired entries without reading the (mostly permanent) rest.
    private const string CreateTables = """
        CREATE TABLE suppressions (
            email TEXT NOT NULL,
            scope TEXT NOT NULL,
            value TEXT NOT NULL,
            reason TEXT NOT NULL,
            created INTEGER NOT NULL,
            expires INTEGER,
            PRIMARY KEY (email, scope, value)) WITHOUT ROWID;
        CREATE INDEX suppressions_expires ON suppressions (expires) WHERE expires IS NOT NULL;
        """;

    private const string Columns = "email, scope, value, reason, created, expires";

    public const string Upsert = $"""
        INSERT INTO suppressions ({Columns}) VALUES (@email, @scope, @value, @reason, @created, @expires)
        ON CONFLICT (email, scope, value) DO UPDATE SET reason = excluded.reason, created = excluded.created, expires = excluded.expires
        """;

    public const string Delete = "DELETE FROM suppressions WHERE email = @email AND scope = @scope AND value = @value";

    public const string PurgeChunk = """
        DELETE FROM suppressions WHERE (email, scope, value) IN
            (SELECT email, scope, value FROM suppressions WHERE expires IS NOT NULL AND expires <= @now LIMIT @chunk)
        """;

    /// <summary>Every active entry of the addresses in the JSON array <c>@emails</c>: one statement whatever their
    /// number (no parameter limit, one plan), each address one primary-key probe.</summary>
    public const string Find = $"""
        SELECT {Columns} FROM suppressions
        WHERE email IN (SELECT value FROM json_each(@emails)) AND (expires IS NULL OR expires > @now)
        """;

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

    public static string ConnectionString(string path, bool readOnly, TimeSpan busyTimeout) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        // Bounds Microsoft.Data.Sqlite's own retries of a busy statement, which would otherwise add 30 s to busy_timeout.
        DefaultTimeout = (int)Math.Ceiling(busyTimeout.TotalSeconds),
        Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
        Cache = SqliteCacheMode.Private,
        // A disposed store must really close its file (the CLI and tests reopen or delete it).
        Pooling = false,
    }.ToString();

    /// <summary>Opens the writer connection, switching the file to WAL and creating or checking the schema.</summary>
    public static SqliteConnection OpenWriter(string path, TimeSpan busyTimeout)
    {
        var connection = new SqliteConnection(ConnectionString(path, readOnly: false, busyTimeout));
        try
        {
            connection.Open();
            if (Scalar(connection, "PRAGMA journal_mode = WAL") is not string mode || !mode.Equals("wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"The suppression store {path} cannot use write-ahead logging.");
            }

            // synchronous=FULL: an entry someone asked for (an unsubscribe) must not vanish with a power loss; adds
            // are rare next to lookups, and imports pay one sync per batch of thousands.
            Execute(connection, BusyTimeout(busyTimeout));
            Execute(connection, "PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;");
            using var transaction = connection.BeginTransaction(deferred: false);
            Execute(connection, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", transaction);
            var found = Scalar(connection, "SELECT MAX(version) FROM schema_version", transaction);
            if (found is null or DBNull)
            {
                Execute(connection, CreateTables, transaction);
                Execute(connection, string.Create(CultureInfo.InvariantCulture, $"INSERT INTO schema_version (version) VALUES ({SchemaVersion})"), transaction);
            }
            else if (Convert.ToInt64(found, CultureInfo.InvariantCulture) is var version && version != SchemaVersion)
            {
                throw new InvalidOperationException($"The suppression store {path} has schema version {version}; this build reads version {SchemaVersion}.");
            }

            transaction.Commit();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public static SqliteConnection OpenReader(string path, TimeSpan busyTimeout)
    {
        var connection = new SqliteConnection(ConnectionString(path, readOnly: true, busyTimeout));
        try
        {
            connection.Open();
            Execute(connection, BusyTimeout(busyTimeout));
            Execute(connection, "PRAGMA query_only = 1");
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>A prepared statement with its parameters declared in order (set them by index).</summary>
    public static SqliteCommand Prepare(SqliteConnection connection, string sql, params ReadOnlySpan<string> parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters)
        {
            command.Parameters.Add(new SqliteParameter(name, DBNull.Value));
        }

        command.Prepare();
        return command;
    }

    public static object Time(DateTimeOffset? time) => time is { } t ? t.ToUnixTimeMilliseconds() : DBNull.Value;

    public static SuppressionEntry Read(SqliteDataReader reader)
    {
        if (!SuppressionNames.TryParseScope(reader.GetString(1), out var scope) || !SuppressionNames.TryParseReason(reader.GetString(3), out var reason))
        {
            throw new InvalidDataException($"The suppression store holds an entry with scope '{reader.GetString(1)}' and reason '{reader.GetString(3)}'.");
        }

        return SuppressionEntry.Create(reader.GetString(0), scope, reader.GetString(2), reason,
            DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
            reader.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)));
    }

    private static string BusyTimeout(TimeSpan timeout) =>
        string.Create(CultureInfo.InvariantCulture, $"PRAGMA busy_timeout = {(long)timeout.TotalMilliseconds}");

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command.ExecuteScalar();
    }
}
