using ManycoreMail.Sqlite;
using Microsoft.Data.Sqlite;

namespace ManycoreMail.Sending;

/// <summary>The schedule ledger in a SQLite file (<c>storage/path</c>/schedule.db). Writes are a few per scheduled
/// message, so one writer connection behind a gate serves every call.</summary>
/// <remarks>synchronous=FULL: a cancel that answered 200 must not come undone with a power loss, or the message
/// would be sent after all.</remarks>
internal sealed class SqliteScheduleLedger : IScheduleLedger, IAsyncDisposable
{
    public const string FileName = "schedule.db";
    private const int SchemaVersion = 2;
    private static readonly TimeSpan BusyTimeout = TimeSpan.FromSeconds(5);

    private const string CreateTables = """
        CREATE TABLE scheduled_messages (
            uuid TEXT NOT NULL PRIMARY KEY,
            send_at INTEGER NOT NULL,
            status TEXT NOT NULL,
            changed INTEGER NOT NULL,
            tenant TEXT) WITHOUT ROWID;
        CREATE INDEX scheduled_messages_changed ON scheduled_messages (changed);
        """;

    // Version 1 did not know tenants: its entries keep a null tenant, which only a login without a tenant may cancel.
    private static readonly Dictionary<int, string> Upgrades = new()
    {
        [1] = "ALTER TABLE scheduled_messages ADD COLUMN tenant TEXT",
    };

    private readonly SqliteConnection _connection;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private SqliteScheduleLedger(SqliteConnection connection, TimeProvider time)
    {
        _connection = connection;
        _time = time;
    }

    /// <summary>Opens (creating when needed) the ledger at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidOperationException">The file cannot use WAL, or holds another schema version.</exception>
    public static SqliteScheduleLedger Open(string path, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var connection = SqliteStoreFile.OpenWriter(path, BusyTimeout, "schedule ledger", "PRAGMA synchronous = FULL;", CreateTables, SchemaVersion, Upgrades);
        return new SqliteScheduleLedger(connection, time);
    }

    public async ValueTask RecordAsync(IReadOnlyList<ScheduledEntry> entries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var transaction = (SqliteTransaction)await _connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var command = _connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = ScheduleLedgerSql.Record;
            var uuid = command.Parameters.Add("@uuid", SqliteType.Text);
            var sendAt = command.Parameters.Add("@send_at", SqliteType.Integer);
            var tenant = command.Parameters.Add("@tenant", SqliteType.Text);
            command.Parameters.AddWithValue("@now", now);
            foreach (var entry in entries)
            {
                uuid.Value = entry.Uuid;
                sendAt.Value = entry.SendAt.ToUnixTimeMilliseconds();
                tenant.Value = (object?)entry.Tenant ?? DBNull.Value;
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask<bool> TryMarkSentAsync(string uuid, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (await ExecuteAsync(ScheduleLedgerSql.MarkSent, uuid, cancellationToken).ConfigureAwait(false) > 0)
            {
                return true;
            }
            return ScheduleLedgerSql.MaySendWith(await StatusAsync(uuid, tenant: null, cancellationToken).ConfigureAwait(false));
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask<CancelOutcome> CancelAsync(string uuid, string? tenant, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (await ExecuteAsync(ScheduleLedgerSql.Cancel, uuid, cancellationToken, tenant).ConfigureAwait(false) > 0)
            {
                return CancelOutcome.Cancelled;
            }
            return ScheduleLedgerSql.CancelOutcomeOf(await StatusAsync(uuid, tenant, cancellationToken).ConfigureAwait(false));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Deletes sent and cancelled entries older than <see cref="ScheduleLedgerSql.Retention"/>; how many.</summary>
    public async Task<long> PurgeAsync(CancellationToken cancellationToken)
    {
        var before = (_time.GetUtcNow() - ScheduleLedgerSql.Retention).ToUnixTimeMilliseconds();
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var command = _connection.CreateCommand();
            command.CommandText = ScheduleLedgerSql.Purge;
            command.Parameters.AddWithValue("@before", before);
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<int> ExecuteAsync(string sql, string uuid, CancellationToken cancellationToken, string? tenant = null)
    {
        await using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("@uuid", uuid);
        command.Parameters.AddWithValue("@now", _time.GetUtcNow().ToUnixTimeMilliseconds());
        command.Parameters.Add("@tenant", SqliteType.Text).Value = (object?)tenant ?? DBNull.Value;
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<string?> StatusAsync(string uuid, string? tenant, CancellationToken cancellationToken)
    {
        await using var command = _connection.CreateCommand();
        command.CommandText = ScheduleLedgerSql.Status;
        command.Parameters.AddWithValue("@uuid", uuid);
        command.Parameters.Add("@tenant", SqliteType.Text).Value = (object?)tenant ?? DBNull.Value;
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
    }
}
