using ManycoreMail.Sqlite;
using Microsoft.Data.Sqlite;

namespace ManycoreMail.Idempotency.Sqlite;

/// <summary>Idempotency keys in a SQLite file (WAL). Sends with a key are few next to messages, so one connection
/// behind a gate serves every call, and each claim is one short transaction.</summary>
public sealed class SqliteIdempotencyStore : IIdempotencyStore
{
    private const string CreateTables = """
        CREATE TABLE idempotency_keys (
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            body_hash BLOB NOT NULL,
            created INTEGER NOT NULL,
            status INTEGER,
            answer BLOB,
            PRIMARY KEY (scope, key)) WITHOUT ROWID;
        CREATE INDEX idempotency_keys_created ON idempotency_keys (created);
        """;

    // A replayed answer stands for a send: a key must not be forgotten by a power cut after its 202 went out.
    private const string Pragmas = "PRAGMA synchronous = FULL";

    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly TimeProvider _time;

    private SqliteIdempotencyStore(SqliteConnection connection, TimeProvider time)
    {
        _connection = connection;
        _time = time;
    }

    /// <summary>Opens (creating when needed) the store at <paramref name="path"/>.</summary>
    public static SqliteIdempotencyStore Open(string path, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var connection = SqliteStoreFile.OpenWriter(path, TimeSpan.FromSeconds(5), "idempotency store", Pragmas, CreateTables, schemaVersion: 1);
        return new SqliteIdempotencyStore(connection, time ?? TimeProvider.System);
    }

    public async Task<IdempotencyClaim> TryClaimAsync(string scope, string key, ReadOnlyMemory<byte> bodyHash, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var now = _time.GetUtcNow();
            await using var transaction = (SqliteTransaction)await _connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            StoredKey? stored = null;
            await using (var select = Command(IdempotencySql.Select, scope, key, transaction))
            await using (var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    stored = IdempotencySql.Read(reader);
                }
            }
            if (IdempotencyRules.Decide(stored, bodyHash.Span, now) is { } earlier)
            {
                return earlier;
            }
            await using (var claim = Command(stored is null ? IdempotencySql.Insert : IdempotencySql.Claim, scope, key, transaction))
            {
                claim.Parameters.AddWithValue("@hash", bodyHash.ToArray());
                claim.Parameters.AddWithValue("@created", now.ToUnixTimeMilliseconds());
                await claim.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return new IdempotencyClaim.New();
        }
        finally
        {
            _gate.Release();
        }
    }

    public Task CompleteAsync(string scope, string key, int status, ReadOnlyMemory<byte> answer, CancellationToken cancellationToken) =>
        ExecuteAsync(IdempotencySql.Complete, scope, key, command =>
        {
            command.Parameters.AddWithValue("@status", status);
            command.Parameters.AddWithValue("@answer", answer.ToArray());
        }, cancellationToken);

    public Task ReleaseAsync(string scope, string key, CancellationToken cancellationToken) =>
        ExecuteAsync(IdempotencySql.Release, scope, key, null, cancellationToken);

    public async Task<long> PurgeAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var command = _connection.CreateCommand();
            command.CommandText = IdempotencySql.Purge;
            command.Parameters.AddWithValue("@before", (_time.GetUtcNow() - IdempotencyRules.Window).ToUnixTimeMilliseconds());
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _connection.DisposeAsync().ConfigureAwait(false);
        _gate.Dispose();
    }

    private async Task ExecuteAsync(string sql, string scope, string key, Action<SqliteCommand>? parameters, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var command = Command(sql, scope, key, null);
            parameters?.Invoke(command);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private SqliteCommand Command(string sql, string scope, string key, SqliteTransaction? transaction)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        command.Parameters.AddWithValue("@scope", scope);
        command.Parameters.AddWithValue("@key", key);
        return command;
    }
}
