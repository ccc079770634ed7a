using ManycoreMail.Sqlite;
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

    /// <summary>Opens the writer connection, switching the file to WAL and creating or checking the schema.</summary>
    /// <remarks>synchronous=NORMAL: in WAL mode a power loss may undo the last transactions but never corrupts the
    /// file. That is enough here because an event stays on the durable events queue until its append has committed;
    /// the spool, which is the only copy of a message, keeps FULL.</remarks>
    public static SqliteConnection OpenWriter(string path, TimeSpan busyTimeout) =>
        SqliteStoreFile.OpenWriter(path, busyTimeout, "event store", """
            PRAGMA synchronous = NORMAL;
            PRAGMA journal_size_limit = 67108864;
            PRAGMA temp_store = MEMORY;
            """, CreateTables, EventSql.SchemaVersion);

    public static SqliteConnection OpenReader(string path, TimeSpan busyTimeout) => SqliteStoreFile.OpenReader(path, busyTimeout);

    public static SqliteCommand Prepare(SqliteConnection connection, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        return command;
    }
}
