using Microsoft.Data.Sqlite;

namespace ManycoreMail.Queue.Embedded;

/// <summary>The on-disk layout of the spool and how its connections are opened.</summary>
internal static class SpoolSchema
{
    public const string DatabaseFileName = "spool.db";
    public const string LockFileName = "spool.lock";

    private const int Version = 2;
    private const int PageSize = 16384;

    // items.not_before is the item's due time: first attempt, retry time, or, while leased, the lease
    // expiry. One index (queue, not_before [, rowid]) therefore answers "oldest due first", "earliest
    // wake-up" and "expired leases" alike, and an expired lease is due again without any sweeper.
    // Bodies live in their own table so that leasing and retrying rewrite only the small item row,
    // never a message's overflow pages. AUTOINCREMENT keeps ids unique forever (dead_letters reuses them).
    // A forwarded item's body row holds only its new bytes; base names the row whose bytes follow from
    // base_offset on (the message it was made from, whose item is gone), and belongs to it from then on.
    private const string CreateTables = """
        CREATE TABLE IF NOT EXISTS items (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            queue       TEXT    NOT NULL,
            not_before  INTEGER NOT NULL,
            lease_token INTEGER,
            attempts    INTEGER NOT NULL DEFAULT 0,
            created_at  INTEGER NOT NULL,
            envelope    BLOB    NOT NULL
        );
        CREATE INDEX IF NOT EXISTS items_due ON items (queue, not_before);
        CREATE TABLE IF NOT EXISTS bodies (
            id          INTEGER PRIMARY KEY,
            body        BLOB NOT NULL,
            base        INTEGER,
            base_offset INTEGER
        );
        CREATE TABLE IF NOT EXISTS dead_letters (
            id         INTEGER PRIMARY KEY,
            queue      TEXT    NOT NULL,
            envelope   BLOB    NOT NULL,
            body       BLOB,
            reason     TEXT    NOT NULL,
            attempts   INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            failed_at  INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS dead_letters_queue ON dead_letters (queue, id);
        """;

    private const string UpgradeFrom1 = """
        ALTER TABLE bodies ADD COLUMN base INTEGER;
        ALTER TABLE bodies ADD COLUMN base_offset INTEGER;
        """;

    public static string ConnectionString(string databasePath, bool readOnly = false) => new SqliteConnectionStringBuilder
    {
        DataSource = databasePath,
        Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
        Cache = SqliteCacheMode.Private,
        // The spool owns its few connections for its whole life; closing must really close the file.
        Pooling = false,
    }.ToString();

    /// <summary>Opens the writer connection, switching the file to WAL and creating the tables if needed.</summary>
    public static SqliteConnection OpenWriter(string databasePath)
    {
        var connection = new SqliteConnection(ConnectionString(databasePath));
        try
        {
            connection.Open();
            // Only takes effect on a new file (before WAL mode and the first table). 16 KiB pages keep a
            // typical message's body on one or two pages instead of a chain of 4 KiB overflow pages: a 100 KB
            // body is then 7 page writes to the log (and 7 to the file at checkpoint) instead of 25.
            Execute(connection, $"PRAGMA page_size = {PageSize}");
            var journalMode = Scalar(connection, "PRAGMA journal_mode = WAL") as string;
            if (!string.Equals(journalMode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"The spool {databasePath} cannot use write-ahead logging (journal mode is '{journalMode}').");
            }

            // temp_store: a statement or savepoint journal that outgrows 64 KiB otherwise spills to a temporary
            // file (four 16 KiB pages are enough); kept in memory it costs no system call.
            Execute(connection, """
                PRAGMA synchronous = FULL;
                PRAGMA busy_timeout = 5000;
                PRAGMA journal_size_limit = 67108864;
                PRAGMA cache_size = -16384;
                PRAGMA temp_store = MEMORY;
                """);

            var version = Convert.ToInt32(Scalar(connection, "PRAGMA user_version"), System.Globalization.CultureInfo.InvariantCulture);
            if (version > Version)
            {
                throw new InvalidOperationException($"The spool {databasePath} has format version {version}; this build reads up to {Version}.");
            }

            if (version == 1)
            {
                Execute(connection, $"BEGIN IMMEDIATE; {UpgradeFrom1} PRAGMA user_version = {Version}; COMMIT;");
            }
            else if (version < Version)
            {
                Execute(connection, $"BEGIN IMMEDIATE; {CreateTables} PRAGMA user_version = {Version}; COMMIT;");
            }

            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public static SqliteConnection OpenReader(string connectionString)
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            connection.Open();
            Execute(connection, "PRAGMA busy_timeout = 5000; PRAGMA query_only = 1;");
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public static SqliteCommand Prepare(SqliteConnection connection, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        return command;
    }

    public static SqliteParameter Parameter(SqliteCommand command, string name, SqliteType type)
    {
        var parameter = command.Parameters.Add(name, type);
        return parameter;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = Prepare(connection, sql);
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = Prepare(connection, sql);
        return command.ExecuteScalar();
    }
}
