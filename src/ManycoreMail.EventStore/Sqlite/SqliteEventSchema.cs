using System.Globalization;
using Microsoft.Data.Sqlite;

namespace ManycoreMail.EventStore.Sqlite;

/// <summary>The SQLite side of the schema <see cref="EventSql"/> describes: connections, pragmas, tables.</summary>
internal static class SqliteEventSchema
{
    // Each filter's index ends with the id, so a keyset page is a range scan that stops after limit + 1 rows. An
    // (event, ts) index, as first planned, made SQLite sort every event of a type on every page; a time window is
    // applied to the id-ordered scan instead, and ts has its own index for the purge.
    // AUTOINCREMENT: a plain rowid may reuse the highest id once it has been purged, and a client holding a cursor
    // past it would then skip the new events. The cost is one update of sqlite_sequence per transaction's rows.
    private const string CreateTables = """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts INTEGER NOT NULL,
            event TEXT NOT NULL,
            uuid TEXT,
            email TEXT,
            body BLOB NOT NULL);
        CREATE INDEX events_uuid ON events (uuid, id);
        CREATE INDEX events_email ON events (email, id);
        CREATE INDEX events_event ON events (event, id);
        CREATE INDEX events_ts ON events (ts);
        """;

    /// <summary>How long a reader or the writer waits for another writer's lock (a second process on the file, the
    /// CLI replaying) before its statement fails.</summary>
    public static readonly TimeSpan DefaultBusyTimeout = TimeSpan.FromSeconds(5);

    // busy_timeout makes SQLite itself wait; DefaultTimeout bounds Microsoft.Data.Sqlite's own retries of a busy
    // statement, which would otherwise add 30 s to it.
    public static string ConnectionString(string path, bool readOnly, TimeSpan busyTimeout) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        DefaultTimeout = (int)Math.Ceiling(busyTimeout.TotalSeconds),
        Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
        Cache = SqliteCacheMode.Private,
        // A closed store must really close its file (a test, or the CLI, deletes or reopens it).
        Pooling = false,
    }.ToString();

    /// <summary>Opens the writer connection, switching the file to WAL and creating or checking the schema.</summary>
    public static SqliteConnection OpenWriter(string path, TimeSpan busyTimeout)
    {
        var connection = new SqliteConnection(ConnectionString(path, readOnly: false, busyTimeout));
        try
        {
            connection.Open();
            var journalMode = Scalar(connection, "PRAGMA journal_mode = WAL") as string;
            if (!string.Equals(journalMode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"The event store {path} cannot use write-ahead logging (journal mode is '{journalMode}').");
            }

            // synchronous=NORMAL: in WAL mode a power loss may undo the last transactions but never corrupts the
            // file. That is enough here because an event stays on the durable events queue until its append has
            // committed; the spool, which is the only copy of a message, keeps FULL.
            Execute(connection, BusyTimeout(busyTimeout));
            Execute(connection, """
                PRAGMA synchronous = NORMAL;
                PRAGMA journal_size_limit = 67108864;
                PRAGMA temp_store = MEMORY;
                """);

            using var transaction = connection.BeginTransaction(deferred: false);
            Execute(connection, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", transaction);
            var found = Scalar(connection, EventSql.SelectVersion, transaction);
            if (found is null or DBNull)
            {
                Execute(connection, CreateTables, transaction);
                Execute(connection, string.Create(CultureInfo.InvariantCulture, $"INSERT INTO schema_version (version) VALUES ({EventSql.SchemaVersion})"), transaction);
            }
            else if (Convert.ToInt64(found, CultureInfo.InvariantCulture) is var version && version != EventSql.SchemaVersion)
            {
                throw new InvalidOperationException($"The event store {path} has schema version {version}; this build reads version {EventSql.SchemaVersion}.");
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

    private static string BusyTimeout(TimeSpan timeout) =>
        string.Create(CultureInfo.InvariantCulture, $"PRAGMA busy_timeout = {(long)timeout.TotalMilliseconds}");

    public static SqliteCommand Prepare(SqliteConnection connection, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        return command;
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = Prepare(connection, sql);
        command.Transaction = transaction;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = Prepare(connection, sql);
        command.Transaction = transaction;
        return command.ExecuteScalar();
    }
}
