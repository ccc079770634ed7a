using ManycoreMail.Sqlite;
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

    /// <summary>Opens the writer connection, switching the file to WAL and creating or checking the schema.</summary>
    /// <remarks>synchronous=FULL: an entry someone asked for (an unsubscribe) must not vanish with a power loss; adds
    /// are rare next to lookups, and imports pay one sync per batch of thousands.</remarks>
    public static SqliteConnection OpenWriter(string path, TimeSpan busyTimeout) =>
        SqliteStoreFile.OpenWriter(path, busyTimeout, "suppression store", "PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;",
            CreateTables, SchemaVersion);

    public static SqliteConnection OpenReader(string path, TimeSpan busyTimeout) => SqliteStoreFile.OpenReader(path, busyTimeout);

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
}
