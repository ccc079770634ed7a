using ManycoreMail.Postgres;
using Npgsql;

namespace ManycoreMail.Idempotency.Postgres;

/// <summary>Idempotency keys in PostgreSQL (table <c>idempotency_keys</c>), shared by every host on the database, so a
/// retry that reaches another host still finds its key. A claim locks the key's row for its short transaction.</summary>
public sealed class PostgresIdempotencyStore : IIdempotencyStore
{
    private const string UniqueViolation = "23505";

    // IF NOT EXISTS races between hosts creating the table at once; the lock makes the first one win cleanly.
    private const string CreateTables = """
        SELECT pg_advisory_xact_lock(7402114);
        CREATE TABLE IF NOT EXISTS idempotency_keys (
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            body_hash BYTEA NOT NULL,
            created BIGINT NOT NULL,
            status INTEGER,
            answer BYTEA,
            PRIMARY KEY (scope, key));
        CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created);
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly TimeProvider _time;

    private PostgresIdempotencyStore(NpgsqlDataSource dataSource, TimeProvider time)
    {
        _dataSource = dataSource;
        _time = time;
    }

    /// <summary>Connects to <paramref name="connectionString"/> and creates the table when needed.</summary>
    public static async Task<PostgresIdempotencyStore> OpenAsync(string connectionString, CancellationToken cancellationToken, TimeProvider? time = null)
    {
        var dataSource = await PostgresStoreDatabase.OpenAsync(connectionString, CreateTables, cancellationToken).ConfigureAwait(false);
        return new PostgresIdempotencyStore(dataSource, time ?? TimeProvider.System);
    }

    public async Task<IdempotencyClaim> TryClaimAsync(string scope, string key, ReadOnlyMemory<byte> bodyHash, CancellationToken cancellationToken)
    {
        // Two first claims of one key race on the insert; the loser retries and then finds the winner's row.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await ClaimOnceAsync(scope, key, bodyHash, cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException e) when (e.SqlState == UniqueViolation && attempt < 3)
            {
            }
        }
    }

    private async Task<IdempotencyClaim> ClaimOnceAsync(string scope, string key, ReadOnlyMemory<byte> bodyHash, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        StoredKey? stored = null;
        await using (var select = Command(connection, transaction, IdempotencySql.Select + " FOR UPDATE", scope, key))
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
        await using (var claim = Command(connection, transaction, stored is null ? IdempotencySql.Insert : IdempotencySql.Claim, scope, key))
        {
            claim.Parameters.AddWithValue("hash", bodyHash.ToArray());
            claim.Parameters.AddWithValue("created", now.ToUnixTimeMilliseconds());
            await claim.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new IdempotencyClaim.New();
    }

    public async Task CompleteAsync(string scope, string key, int status, ReadOnlyMemory<byte> answer, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, IdempotencySql.Complete, scope, key);
        command.Parameters.AddWithValue("status", status);
        command.Parameters.AddWithValue("answer", answer.ToArray());
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task ReleaseAsync(string scope, string key, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, IdempotencySql.Release, scope, key);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<long> PurgeAsync(CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand(IdempotencySql.Purge);
        command.Parameters.AddWithValue("before", (_time.GetUtcNow() - IdempotencyRules.Window).ToUnixTimeMilliseconds());
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private static NpgsqlCommand Command(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, string scope, string key)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddWithValue("scope", scope);
        command.Parameters.AddWithValue("key", key);
        return command;
    }
}
