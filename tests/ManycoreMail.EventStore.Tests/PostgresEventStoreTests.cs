using System.Diagnostics;
using System.Globalization;
using ManycoreMail.EventStore.Postgres;
using ManycoreMail.TestSupport;
using Npgsql;
using Xunit.Abstractions;
using static ManycoreMail.EventStore.Tests.TempStore;

namespace ManycoreMail.EventStore.Tests;

/// <summary>The contract on PostgreSQL, plus what only a shared server has: several stores (processes) on one
/// database, a server restart, a schema made by a newer build.</summary>
public sealed class PostgresEventStoreTests(SharedPostgres postgres, ITestOutputHelper output) : EventStoreContractTests, IClassFixture<SharedPostgres>, IAsyncLifetime
{
    private string _connectionString = "";

    public async Task InitializeAsync() => _connectionString = await postgres.CreateDatabaseAsync("events");

    public Task DisposeAsync() => Task.CompletedTask;

    protected override async Task<IEventStore> OpenAsync(int purgeChunk = 5_000) => await OpenStoreAsync(purgeChunk);

    private Task<PostgresEventStore> OpenStoreAsync(int purgeChunk = 5_000) =>
        PostgresEventStore.OpenAsync(new PostgresEventStoreOptions { ConnectionString = _connectionString, PurgeChunk = purgeChunk }, CancellationToken.None);

    [Fact]
    public async Task An_append_that_drew_its_id_first_is_visible_before_a_later_one_from_another_store()
    {
        // A holds test lock 42 so that store A's append, once its row has its id, waits in a trigger until released.
        await using var first = await OpenStoreAsync();
        await using var second = await OpenStoreAsync();
        await ExecuteAsync("""
            CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN IF NEW.event = 'held' THEN PERFORM pg_advisory_xact_lock_shared(42); END IF; RETURN NEW; END $$;
            CREATE TRIGGER hold BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION hold();
            """);
        await using var holder = new NpgsqlConnection(_connectionString);
        await holder.OpenAsync();
        await ScalarAsync(holder, "SELECT pg_advisory_lock(42)");

        var held = first.AppendAsync([Event("""{"event":"held","uuid":"first","timestamp":1}""")], CancellationToken.None);
        await Eventually.TrueAsync(async () => await WaitingAdvisoryLocksAsync("objid = 42") == 1, TimeSpan.FromSeconds(30), "the first append to wait in its trigger");
        var later = second.AppendAsync([Delivered("second", "a@example.com", 2)], CancellationToken.None);
        // The second append either committed (the bug) or waits for the first's commit, which is the point.
        await Eventually.TrueAsync(async () => later.IsCompleted || await WaitingAdvisoryLocksAsync("objid <> 42") == 1, TimeSpan.FromSeconds(30), "the second append to commit or wait");
        var before = await first.QueryAsync(new EventQuery(), CancellationToken.None);
        await ScalarAsync(holder, "SELECT pg_advisory_unlock(42)");
        await Task.WhenAll(held, later);
        var after = await first.QueryAsync(new EventQuery { After = before.Events.LastOrDefault()?.Cursor }, CancellationToken.None);

        // A follower that paged in between must still find both, each once.
        Assert.Equal(["first", "second"], before.Events.Concat(after.Events).Select(UuidOf));
    }

    [Fact]
    public async Task A_reader_following_with_after_sees_every_event_of_concurrent_stores_exactly_once()
    {
        const int Stores = 4;
        const int WritersPerStore = 4;
        const int BatchesPerWriter = 40;
        const int BatchSize = 5;
        const int Total = Stores * WritersPerStore * BatchesPerWriter * BatchSize;
        var stores = new List<PostgresEventStore>();
        for (var i = 0; i < Stores; i++)
        {
            // Each store has its own pool and writer, as a process of a cluster would.
            stores.Add(await OpenStoreAsync());
        }

        try
        {
            var writing = Task.WhenAll(stores.SelectMany((store, s) => Enumerable.Range(0, WritersPerStore).Select(w => Task.Run(async () =>
            {
                for (var b = 0; b < BatchesPerWriter; b++)
                {
                    await store.AppendAsync([.. Enumerable.Range(0, BatchSize).Select(i => Delivered($"s{s}-w{w}-b{b}-{i}", "a@example.com", 1))], CancellationToken.None);
                }
            }))));

            // The follower pages as `mailer events --follow` does: small pages, always from the last cursor.
            var seen = new List<string?>();
            string? after = null;
            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            while (seen.Count < Total)
            {
                deadline.Token.ThrowIfCancellationRequested();
                var page = await stores[0].QueryAsync(new EventQuery { Limit = 7, After = after }, CancellationToken.None);
                seen.AddRange(page.Events.Select(UuidOf));
                after = page.Events.Count > 0 ? page.Events[^1].Cursor : after;
                if (writing.IsCompleted && page.Events.Count == 0)
                {
                    break;
                }
            }

            await writing;
            Assert.Equal(Total, seen.Distinct().Count());
            Assert.Equal(Total, seen.Count);
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    /// <summary>The figure for the note, printed and not asserted (a shared machine's speed is no property of the
    /// code): callers appending batches of 50 at once, as the backdata role of several processes would.</summary>
    [Fact]
    public async Task Concurrent_appends_in_batches_of_50_print_events_per_second()
    {
        const int Callers = 8;
        const int BatchesPerCaller = 50;
        const int BatchSize = 50;
        var batches = Enumerable.Range(0, Callers * BatchesPerCaller)
            .Select(b => (IReadOnlyList<StoredEventInput>)[.. Enumerable.Range(b * BatchSize, BatchSize).Select(i => Bounce("uuid-" + N(i / 3), "rcpt" + N(i % 5000) + "@example.com", 1_700_000_000 + i))])
            .ToList();
        await using var store = await OpenStoreAsync();

        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Callers).Select(c => Task.Run(async () =>
        {
            for (var b = c; b < batches.Count; b += Callers)
            {
                await store.AppendAsync(batches[b], CancellationToken.None);
            }
        })));
        clock.Stop();

        var total = Callers * BatchesPerCaller * BatchSize;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"PostgreSQL event store: {total} events in batches of {BatchSize} from {Callers} callers: {clock.Elapsed.TotalSeconds:F2} s, {total / clock.Elapsed.TotalSeconds:F0} events/s"));
        Assert.Equal(3, (await store.QueryAsync(new EventQuery { Uuid = "uuid-1000" }, CancellationToken.None)).Events.Count);
    }

    [Fact]
    public async Task Events_survive_a_server_restart_and_the_writer_goes_on_after_it()
    {
        await using var store = await OpenStoreAsync();
        await store.AppendAsync([Delivered("before", "a@example.com", 1)], CancellationToken.None);

        await (await postgres.ServerAsync()).RestartAsync();

        // The pool's connections died with the server: an append may fail once, as any caller's would, and is retried.
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                await store.AppendAsync([Delivered("after", "a@example.com", 2)], CancellationToken.None);
                return true;
            }
            catch (NpgsqlException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(30), "an append after the restart");
        var all = await AllAsync(store, new EventQuery());
        Assert.Equal("before", UuidOf(all[0]));
        Assert.Equal("after", UuidOf(all[^1]));
    }

    [Fact]
    public async Task A_failed_commit_fails_its_callers_and_the_writer_goes_on()
    {
        await using var store = await OpenStoreAsync();
        await ExecuteAsync("""
            CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN IF NEW.event = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER refuse_poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_poison();
            """);

        var error = await Assert.ThrowsAsync<PostgresException>(() => store.AppendAsync(
            [Delivered("u", "a@example.com", 1), Event("""{"event":"poison","timestamp":1}""")], CancellationToken.None));
        await store.AppendAsync([Delivered("u", "a@example.com", 2)], CancellationToken.None);

        Assert.Contains("poisoned", error.MessageText, StringComparison.Ordinal);
        // The failed batch left nothing behind, not even its first event.
        Assert.Equal([2L], (await store.QueryAsync(new EventQuery(), CancellationToken.None)).Events.Select(TimestampOf));
    }

    [Fact]
    public async Task A_database_from_a_newer_schema_is_refused_not_rewritten()
    {
        await using (await OpenStoreAsync())
        {
        }

        await ExecuteAsync("UPDATE schema_version SET version = 2");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => OpenStoreAsync());
        Assert.Contains("schema version 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stores_opening_an_empty_database_together_create_the_schema_once()
    {
        var stores = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => OpenStoreAsync())));
        foreach (var store in stores)
        {
            await store.DisposeAsync();
        }

        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand("SELECT count(*) FROM schema_version", connection);
        Assert.Equal(1L, await count.ExecuteScalarAsync());
    }

    private async Task<long> WaitingAdvisoryLocksAsync(string which)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        return (long)(await ScalarAsync(connection, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND " + which))!;
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
