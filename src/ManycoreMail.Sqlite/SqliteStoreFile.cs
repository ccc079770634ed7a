using System.Globalization;
using Microsoft.Data.Sqlite;

namespace ManycoreMail.Sqlite;

/// <summary>
/// How every SQLite store of ours (events, suppressions) opens its file: one writer connection in WAL mode that creates
/// or checks a versioned schema, and read-only connections beside it. The stores differ only in their tables, their
/// pragmas (how durable a commit must be) and their names in messages.
/// </summary>
public static class SqliteStoreFile
{
    /// <summary>The connection string of a store's file. busy_timeout makes SQLite itself wait for another writer's lock;
    /// DefaultTimeout bounds Microsoft.Data.Sqlite's own retries of a busy statement, which would otherwise add 30 s
    /// to it. No pooling: a disposed store must really close its file (the CLI and tests reopen or delete it).</summary>
    public static string ConnectionString(string path, bool readOnly, TimeSpan busyTimeout) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        DefaultTimeout = (int)Math.Ceiling(busyTimeout.TotalSeconds),
        Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
        Cache = SqliteCacheMode.Private,
        Pooling = false,
    }.ToString();

    /// <summary>Opens the writer connection: switches the file to WAL, applies <paramref name="pragmas"/>, and creates the
    /// tables (<paramref name="createTables"/>, recorded as <paramref name="schemaVersion"/>) or checks the version a
    /// file already has.</summary>
    /// <param name="storeName">What the store is called in messages ("event store").</param>
    /// <param name="upgrades">By version: the statements that bring a file of that version to the next one, applied in
    /// turn (in the same transaction) to a file older than <paramref name="schemaVersion"/>; none when null.</param>
    /// <exception cref="InvalidOperationException">The file cannot use WAL, or holds another schema version and no upgrade to this one.</exception>
    public static SqliteConnection OpenWriter(string path, TimeSpan busyTimeout, string storeName, string pragmas, string createTables, int schemaVersion,
        IReadOnlyDictionary<int, string>? upgrades = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var connection = new SqliteConnection(ConnectionString(path, readOnly: false, busyTimeout));
        try
        {
            connection.Open();
            var journalMode = Scalar(connection, "PRAGMA journal_mode = WAL") as string;
            if (!string.Equals(journalMode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"The {storeName} {path} cannot use write-ahead logging (journal mode is '{journalMode}').");
            }
            Execute(connection, BusyTimeout(busyTimeout));
            Execute(connection, pragmas);

            using var transaction = connection.BeginTransaction(deferred: false);
            Execute(connection, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", transaction);
            var found = Scalar(connection, "SELECT MAX(version) FROM schema_version", transaction);
            if (found is null or DBNull)
            {
                Execute(connection, createTables, transaction);
                Execute(connection, string.Create(CultureInfo.InvariantCulture, $"INSERT INTO schema_version (version) VALUES ({schemaVersion})"), transaction);
            }
            else if (Convert.ToInt64(found, CultureInfo.InvariantCulture) is var version && version != schemaVersion)
            {
                if (version > schemaVersion || upgrades is null || !Upgrade(connection, transaction, (int)version, schemaVersion, upgrades))
                {
                    throw new InvalidOperationException($"The {storeName} {path} has schema version {version}; this build reads version {schemaVersion}.");
                }
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

    /// <summary>Runs the upgrades from <paramref name="from"/> to <paramref name="to"/> and records the new version; false,
    /// with nothing run, when one step is missing.</summary>
    private static bool Upgrade(SqliteConnection connection, SqliteTransaction transaction, int from, int to, IReadOnlyDictionary<int, string> upgrades)
    {
        for (var version = from; version < to; version++)
        {
            if (!upgrades.ContainsKey(version))
            {
                return false;
            }
        }
        for (var version = from; version < to; version++)
        {
            Execute(connection, upgrades[version], transaction);
        }
        Execute(connection, string.Create(CultureInfo.InvariantCulture, $"INSERT INTO schema_version (version) VALUES ({to})"), transaction);
        return true;
    }

    /// <summary>A read-only connection beside the writer (WAL lets it read while the writer commits).</summary>
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
