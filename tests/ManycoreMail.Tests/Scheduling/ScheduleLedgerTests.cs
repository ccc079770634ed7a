using ManycoreMail.Sending;
using ManycoreMail.TestSupport;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace ManycoreMail.Tests.Scheduling;

/// <summary>The ledger's contract, run on both stores: what a cancel and the scheduler's mark-sent answer in each state,
/// and which entries the purge removes.</summary>
public abstract class ScheduleLedgerContract : IAsyncLifetime
{
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero));

    private IScheduleLedger _ledger = null!;

    private protected abstract Task<IScheduleLedger> OpenAsync();

    private protected abstract Task<long> PurgeAsync(IScheduleLedger ledger);

    public async Task InitializeAsync() => _ledger = await OpenAsync();

    public virtual async Task DisposeAsync() => await ((IAsyncDisposable)_ledger).DisposeAsync();

    private ValueTask RecordAsync(params string[] uuids) => RecordForAsync(null, uuids);

    private ValueTask RecordForAsync(string? tenant, params string[] uuids) =>
        _ledger.RecordAsync(uuids.Select(u => new ScheduledEntry(u, Time.GetUtcNow().AddHours(1), tenant)).ToArray(), CancellationToken.None);

    [Fact]
    public async Task A_tenant_cancels_its_own_message_and_another_tenants_is_unknown_to_it()
    {
        await RecordForAsync("acme", "t1", "t2");

        Assert.Equal(CancelOutcome.Unknown, await _ledger.CancelAsync("t1", "globex", CancellationToken.None));
        Assert.True(await _ledger.TryMarkSentAsync("t2", CancellationToken.None));
        Assert.Equal(CancelOutcome.Unknown, await _ledger.CancelAsync("t2", "globex", CancellationToken.None));

        Assert.Equal(CancelOutcome.Cancelled, await _ledger.CancelAsync("t1", "acme", CancellationToken.None));
        Assert.Equal(CancelOutcome.Unknown, await _ledger.CancelAsync("t1", "globex", CancellationToken.None));
        Assert.Equal(CancelOutcome.AlreadyCancelled, await _ledger.CancelAsync("t1", "acme", CancellationToken.None));
        Assert.Equal(CancelOutcome.AlreadySent, await _ledger.CancelAsync("t2", "acme", CancellationToken.None));
    }

    [Fact]
    public async Task A_canceller_without_a_tenant_cancels_any_message_and_a_tenant_none_recorded_without_one()
    {
        await RecordForAsync("acme", "u1");
        await RecordAsync("u2");

        Assert.Equal(CancelOutcome.Cancelled, await _ledger.CancelAsync("u1", null, CancellationToken.None));
        Assert.Equal(CancelOutcome.Unknown, await _ledger.CancelAsync("u2", "acme", CancellationToken.None));
        Assert.Equal(CancelOutcome.Cancelled, await _ledger.CancelAsync("u2", null, CancellationToken.None));
    }

    [Fact]
    public async Task Recording_a_uuid_again_records_its_new_tenant()
    {
        await RecordForAsync("acme", "v1");
        await RecordForAsync("globex", "v1");

        Assert.Equal(CancelOutcome.Unknown, await _ledger.CancelAsync("v1", "acme", CancellationToken.None));
        Assert.Equal(CancelOutcome.Cancelled, await _ledger.CancelAsync("v1", "globex", CancellationToken.None));
    }

    [Fact]
    public async Task A_scheduled_message_is_cancelled_once_and_then_not_sent()
    {
        await RecordAsync("a1", "a2");

        Assert.Equal(CancelOutcome.Cancelled, await _ledger.CancelAsync("a1", null, CancellationToken.None));
        Assert.Equal(CancelOutcome.AlreadyCancelled, await _ledger.CancelAsync("a1", null, CancellationToken.None));
        Assert.False(await _ledger.TryMarkSentAsync("a1", CancellationToken.None));
        Assert.True(await _ledger.TryMarkSentAsync("a2", CancellationToken.None));
    }

    [Fact]
    public async Task A_sent_message_cannot_be_cancelled_and_marking_it_again_still_lets_it_through()
    {
        await RecordAsync("b1");

        Assert.True(await _ledger.TryMarkSentAsync("b1", CancellationToken.None));
        Assert.True(await _ledger.TryMarkSentAsync("b1", CancellationToken.None));
        Assert.Equal(CancelOutcome.AlreadySent, await _ledger.CancelAsync("b1", null, CancellationToken.None));
    }

    [Fact]
    public async Task An_unknown_uuid_cannot_be_cancelled_but_is_never_held_back()
    {
        Assert.Equal(CancelOutcome.Unknown, await _ledger.CancelAsync("nobody", null, CancellationToken.None));
        Assert.True(await _ledger.TryMarkSentAsync("nobody", CancellationToken.None));
    }

    [Fact]
    public async Task Recording_a_uuid_again_schedules_it_again()
    {
        await RecordAsync("c1");
        Assert.Equal(CancelOutcome.Cancelled, await _ledger.CancelAsync("c1", null, CancellationToken.None));

        await RecordAsync("c1");

        Assert.Equal(CancelOutcome.Cancelled, await _ledger.CancelAsync("c1", null, CancellationToken.None));
    }

    [Fact]
    public async Task The_purge_removes_settled_entries_after_a_week_and_keeps_waiting_ones()
    {
        await RecordAsync("d1", "d2", "d3");
        await _ledger.TryMarkSentAsync("d1", CancellationToken.None);
        await _ledger.CancelAsync("d2", null, CancellationToken.None);
        Time.Advance(TimeSpan.FromDays(6));
        Assert.Equal(0, await PurgeAsync(_ledger));

        Time.Advance(TimeSpan.FromDays(1.1));

        Assert.Equal(2, await PurgeAsync(_ledger));
        Assert.Equal(CancelOutcome.Unknown, await _ledger.CancelAsync("d1", null, CancellationToken.None));
        Assert.Equal(CancelOutcome.Cancelled, await _ledger.CancelAsync("d3", null, CancellationToken.None));
    }
}

public sealed class SqliteScheduleLedgerTests : ScheduleLedgerContract
{
    private readonly string _directory = Directory.CreateTempSubdirectory("schedule-ledger-").FullName;

    private protected override Task<IScheduleLedger> OpenAsync() =>
        Task.FromResult<IScheduleLedger>(SqliteScheduleLedger.Open(Path.Combine(_directory, SqliteScheduleLedger.FileName), Time));

    private protected override Task<long> PurgeAsync(IScheduleLedger ledger) => ((SqliteScheduleLedger)ledger).PurgeAsync(CancellationToken.None);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_cancel_survives_reopening_the_file()
    {
        var path = Path.Combine(_directory, "reopen.db");
        await using (var first = SqliteScheduleLedger.Open(path, Time))
        {
            await first.RecordAsync([new ScheduledEntry("e1", Time.GetUtcNow().AddHours(1), "acme")], CancellationToken.None);
            Assert.Equal(CancelOutcome.Cancelled, await first.CancelAsync("e1", null, CancellationToken.None));
        }
        await using var second = SqliteScheduleLedger.Open(path, Time);
        Assert.False(await second.TryMarkSentAsync("e1", CancellationToken.None));
    }

    [Fact]
    public async Task A_version_1_file_is_upgraded_and_its_entries_stay_cancellable_without_a_tenant()
    {
        var path = Path.Combine(_directory, "v1.db");
        await using (var old = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await old.OpenAsync();
            await using var create = old.CreateCommand();
            create.CommandText = """
                CREATE TABLE schema_version (version INTEGER NOT NULL);
                INSERT INTO schema_version (version) VALUES (1);
                CREATE TABLE scheduled_messages (uuid TEXT NOT NULL PRIMARY KEY, send_at INTEGER NOT NULL, status TEXT NOT NULL,
                    changed INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO scheduled_messages VALUES ('old1', 0, 'scheduled', 0), ('old2', 0, 'scheduled', 0);
                """;
            await create.ExecuteNonQueryAsync();
        }

        await using (var upgraded = SqliteScheduleLedger.Open(path, Time))
        {
            Assert.Equal(CancelOutcome.Unknown, await upgraded.CancelAsync("old1", "acme", CancellationToken.None));
            Assert.Equal(CancelOutcome.Cancelled, await upgraded.CancelAsync("old1", null, CancellationToken.None));
            await upgraded.RecordAsync([new ScheduledEntry("new1", Time.GetUtcNow().AddHours(1), "acme")], CancellationToken.None);
        }
        await using var reopened = SqliteScheduleLedger.Open(path, Time);
        Assert.Equal(CancelOutcome.Cancelled, await reopened.CancelAsync("new1", "acme", CancellationToken.None));
        Assert.True(await reopened.TryMarkSentAsync("old2", CancellationToken.None));
    }
}

public sealed class PostgresScheduleLedgerTests(SharedPostgres postgres) : ScheduleLedgerContract, IClassFixture<SharedPostgres>
{
    private protected override async Task<IScheduleLedger> OpenAsync() =>
        await PostgresScheduleLedger.OpenAsync(await postgres.CreateDatabaseAsync("schedule"), Time, CancellationToken.None);

    private protected override Task<long> PurgeAsync(IScheduleLedger ledger) => ((PostgresScheduleLedger)ledger).PurgeAsync(CancellationToken.None);

    [Fact]
    public async Task A_table_from_before_tenants_gains_the_column_and_its_entries_stay_cancellable_without_a_tenant()
    {
        var database = await postgres.CreateDatabaseAsync("schedule_v1");
        await using (var old = NpgsqlDataSource.Create(database))
        await using (var create = old.CreateCommand("""
            CREATE TABLE scheduled_messages (uuid TEXT NOT NULL PRIMARY KEY, send_at BIGINT NOT NULL, status TEXT NOT NULL, changed BIGINT NOT NULL);
            INSERT INTO scheduled_messages VALUES ('old1', 0, 'scheduled', 0);
            """))
        {
            await create.ExecuteNonQueryAsync();
        }

        await using var upgraded = await PostgresScheduleLedger.OpenAsync(database, Time, CancellationToken.None);
        await upgraded.RecordAsync([new ScheduledEntry("new1", Time.GetUtcNow().AddHours(1), "acme")], CancellationToken.None);

        Assert.Equal(CancelOutcome.Unknown, await upgraded.CancelAsync("old1", "acme", CancellationToken.None));
        Assert.Equal(CancelOutcome.Cancelled, await upgraded.CancelAsync("old1", null, CancellationToken.None));
        Assert.Equal(CancelOutcome.Cancelled, await upgraded.CancelAsync("new1", "acme", CancellationToken.None));
    }
}
