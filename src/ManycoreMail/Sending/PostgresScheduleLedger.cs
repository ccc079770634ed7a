using ManycoreMail.Postgres;
using Npgsql;
using NpgsqlTypes;

namespace ManycoreMail.Sending;

/// <summary>The schedule ledger in PostgreSQL (table <c>scheduled_messages</c>), shared by every process of a cluster,
/// so a cancel on one host stops the message that another host's scheduler holds.</summary>
internal sealed class PostgresScheduleLedger : IScheduleLedger, IAsyncDisposable
{
    // IF NOT EXISTS races between hosts creating the table at once; the lock makes the first one win cleanly.
    private const string CreateTables = """
        SELECT pg_advisory_xact_lock(7402114);
        CREATE TABLE IF NOT EXISTS scheduled_messages (
            uuid TEXT NOT NULL PRIMARY KEY,
            send_at BIGINT NOT NULL,
            status TEXT NOT NULL,
            changed BIGINT NOT NULL);
        CREATE INDEX IF NOT EXISTS scheduled_messages_changed ON scheduled_messages (changed);
        ALTER TABLE scheduled_messages ADD COLUMN IF NOT EXISTS tenant TEXT;
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly TimeProvider _time;

    private PostgresScheduleLedger(NpgsqlDataSource dataSource, TimeProvider time)
    {
        _dataSource = dataSource;
        _time = time;
    }

    /// <summary>Connects to <paramref name="connectionString"/> and creates the table when needed.</summary>
    public static async Task<PostgresScheduleLedger> OpenAsync(string connectionString, TimeProvider time, CancellationToken cancellationToken)
    {
        var dataSource = await PostgresStoreDatabase.OpenAsync(connectionString, CreateTables, cancellationToken).ConfigureAwait(false);
        return new PostgresScheduleLedger(dataSource, time);
    }

    public async ValueTask RecordAsync(IReadOnlyList<ScheduledEntry> entries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var batch = new NpgsqlBatch(connection);
        foreach (var entry in entries)
        {
            var command = new NpgsqlBatchCommand(ScheduleLedgerSql.Record);
            command.Parameters.AddWithValue("uuid", entry.Uuid);
            command.Parameters.AddWithValue("send_at", entry.SendAt.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("now", now);
            command.Parameters.Add(Tenant(entry.Tenant));
            batch.BatchCommands.Add(command);
        }
        // A batch runs in one implicit transaction: all entries or none.
        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> TryMarkSentAsync(string uuid, CancellationToken cancellationToken)
    {
        if (await ExecuteAsync(ScheduleLedgerSql.MarkSent, uuid, cancellationToken).ConfigureAwait(false) > 0)
        {
            return true;
        }
        return ScheduleLedgerSql.MaySendWith(await StatusAsync(uuid, tenant: null, cancellationToken).ConfigureAwait(false));
    }

    public async ValueTask<CancelOutcome> CancelAsync(string uuid, string? tenant, CancellationToken cancellationToken)
    {
        if (await ExecuteAsync(ScheduleLedgerSql.Cancel, uuid, cancellationToken, Tenant(tenant)).ConfigureAwait(false) > 0)
        {
            return CancelOutcome.Cancelled;
        }
        return ScheduleLedgerSql.CancelOutcomeOf(await StatusAsync(uuid, tenant, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Deletes sent and cancelled entries older than <see cref="ScheduleLedgerSql.Retention"/>; how many.</summary>
    public async Task<long> PurgeAsync(CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand(ScheduleLedgerSql.Purge);
        command.Parameters.AddWithValue("before", (_time.GetUtcNow() - ScheduleLedgerSql.Retention).ToUnixTimeMilliseconds());
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private async Task<int> ExecuteAsync(string sql, string uuid, CancellationToken cancellationToken, NpgsqlParameter? tenant = null)
    {
        await using var command = _dataSource.CreateCommand(sql);
        command.Parameters.AddWithValue("uuid", uuid);
        command.Parameters.AddWithValue("now", _time.GetUtcNow().ToUnixTimeMilliseconds());
        if (tenant is not null)
        {
            command.Parameters.Add(tenant);
        }
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<string?> StatusAsync(string uuid, string? tenant, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand(ScheduleLedgerSql.Status);
        command.Parameters.AddWithValue("uuid", uuid);
        command.Parameters.Add(Tenant(tenant));
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
    }

    /// <summary>The @tenant parameter, typed: PostgreSQL cannot infer a type for a null compared with IS NULL.</summary>
    private static NpgsqlParameter Tenant(string? tenant) =>
        new("tenant", NpgsqlDbType.Text) { Value = (object?)tenant ?? DBNull.Value };
}
