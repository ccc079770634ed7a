using System.Globalization;
using ManycoreMail.Delivery;
using ManycoreMail.Queue.Redis;
using ManycoreMail.Sqlite;
using Microsoft.Data.Sqlite;

namespace ManycoreMail.Roles.Sender;

/// <summary>
/// The operations state of the embedded spool: <c>operations.db</c> (SQLite) beside the spool in <c>storage/path</c>
/// (a file of its own, as <c>warmup.db</c>: the spool's database stays the queue's). One process owns the storage
/// directory, so it is only read at start and on the sync loop's polls.
/// </summary>
internal sealed class SqliteDeliveryStateStore : IDeliveryStateStore, IDisposable
{
    public const string FileName = "operations.db";

    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();

    private SqliteDeliveryStateStore(SqliteConnection connection) => _connection = connection;

    public static SqliteDeliveryStateStore Open(string directory) => new(SqliteStoreFile.OpenWriter(Path.Combine(directory, FileName), TimeSpan.FromSeconds(5),
        "operations store", "PRAGMA synchronous = FULL",
        "CREATE TABLE operations (kind TEXT NOT NULL, target TEXT NOT NULL, until_ms INTEGER, detail TEXT NOT NULL, PRIMARY KEY (kind, target))",
        schemaVersion: 1));

    public Task<IReadOnlyList<OperationEntry>> LoadAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            using (var prune = _connection.CreateCommand())
            {
                prune.CommandText = "DELETE FROM operations WHERE until_ms IS NOT NULL AND until_ms <= $now";
                prune.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
                prune.ExecuteNonQuery();
            }
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT kind, target, until_ms, detail FROM operations";
            using var reader = command.ExecuteReader();
            var entries = new List<OperationEntry>();
            while (reader.Read())
            {
                if (Enum.TryParse<OperationKind>(reader.GetString(0), out var kind))
                {
                    entries.Add(new OperationEntry(kind, reader.GetString(1),
                        reader.IsDBNull(2) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)), reader.GetString(3)));
                }
            }
            return Task.FromResult<IReadOnlyList<OperationEntry>>(entries);
        }
    }

    public Task PutAsync(OperationEntry entry, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "INSERT INTO operations (kind, target, until_ms, detail) VALUES ($kind, $target, $until, $detail) "
                + "ON CONFLICT (kind, target) DO UPDATE SET until_ms = excluded.until_ms, detail = excluded.detail";
            command.Parameters.AddWithValue("$kind", entry.Kind.ToString());
            command.Parameters.AddWithValue("$target", entry.Target);
            command.Parameters.AddWithValue("$until", entry.Until is { } until ? until.ToUnixTimeMilliseconds() : DBNull.Value);
            command.Parameters.AddWithValue("$detail", entry.Detail);
            command.ExecuteNonQuery();
        }
        return Task.CompletedTask;
    }

    public Task RemoveAsync(OperationKind kind, string target, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "DELETE FROM operations WHERE kind = $kind AND target = $target";
            command.Parameters.AddWithValue("$kind", kind.ToString());
            command.Parameters.AddWithValue("$target", target);
            command.ExecuteNonQuery();
        }
        return Task.CompletedTask;
    }

    public void Dispose() => _connection.Dispose();
}

/// <summary>
/// The operations state on <c>--queue redis</c>: one hash <c>{prefix}ops</c> (prefix as the queue store's), field
/// <c>kind|target</c>, value <c>until-ms|detail</c> (until empty: until lifted), shared by every sender process of the
/// cluster; lapsed fields are dropped as they are read. Owns its client (a connection of its own, so that polls never
/// queue behind the queue store's blocking reads).
/// </summary>
internal sealed class RedisDeliveryStateStore(RedisClient redis, string keyPrefix) : IDeliveryStateStore, IAsyncDisposable
{
    private readonly string _key = keyPrefix + "ops";

    public async Task<IReadOnlyList<OperationEntry>> LoadAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var reply = await redis.ExecuteAsync(cancellationToken, "HGETALL", _key).ConfigureAwait(false);
        var entries = new List<OperationEntry>();
        var lapsed = new List<string>();
        for (var i = 0; i + 1 < reply.Count; i += 2)
        {
            var field = reply[i].ToString() ?? "";
            if (Parse(field, reply[i + 1].ToString() ?? "") is not { } entry)
            {
                continue;
            }
            if (entry.Stands(now))
            {
                entries.Add(entry);
            }
            else
            {
                lapsed.Add(field);
            }
        }
        if (lapsed.Count > 0)
        {
            await redis.ExecuteAsync(cancellationToken, ["HDEL", _key, .. lapsed]).ConfigureAwait(false);
        }
        return entries;
    }

    public async Task PutAsync(OperationEntry entry, CancellationToken cancellationToken)
    {
        var until = entry.Until is { } u ? u.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) : "";
        await redis.ExecuteAsync(cancellationToken, "HSET", _key, Field(entry.Kind, entry.Target), until + "|" + entry.Detail).ConfigureAwait(false);
    }

    public async Task RemoveAsync(OperationKind kind, string target, CancellationToken cancellationToken) =>
        await redis.ExecuteAsync(cancellationToken, "HDEL", _key, Field(kind, target)).ConfigureAwait(false);

    private static string Field(OperationKind kind, string target) => kind + "|" + target;

    private static OperationEntry? Parse(string field, string value)
    {
        var bar = field.IndexOf('|', StringComparison.Ordinal);
        var split = value.IndexOf('|', StringComparison.Ordinal);
        if (bar < 0 || split < 0 || !Enum.TryParse<OperationKind>(field[..bar], out var kind))
        {
            return null;
        }
        DateTimeOffset? until = split == 0 ? null
            : long.TryParse(value[..split], NumberStyles.None, CultureInfo.InvariantCulture, out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
        return new OperationEntry(kind, field[(bar + 1)..], until, value[(split + 1)..]);
    }

    public ValueTask DisposeAsync() => redis.DisposeAsync();
}
