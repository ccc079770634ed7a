using System.Text;
using ManycoreMail.Queue.Embedded;
using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.Queue.Tests;

/// <summary>What only the embedded spool promises: group commit, crash safety of its files, one owner.</summary>
public sealed class EmbeddedSpoolTests : IAsyncLifetime
{
    private static readonly TimeSpan RealTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan LongLease = TimeSpan.FromMinutes(10);

    private readonly TempDirectory _directory = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly List<EmbeddedSpool> _spools = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var spool in _spools)
        {
            await spool.DisposeAsync();
        }

        _directory.Dispose();
    }

    [Fact]
    public async Task Callers_waiting_together_share_one_group_commit()
    {
        var spool = await OpenAsync("spool");
        var before = spool.GroupCommits;

        Task[] enqueues;
        using (spool.Committer.HoldCommits())
        {
            enqueues = Enumerable.Range(0, 200).Select(i => spool.EnqueueAsync("q", Item($"m{i}"), CancellationToken.None).AsTask()).ToArray();
            Assert.DoesNotContain(enqueues, e => e.IsCompleted);
        }

        await Task.WhenAll(enqueues).WaitAsync(RealTimeout);
        Assert.Equal(before + 1, spool.GroupCommits);
        Assert.Equal(200, await spool.CountAsync("q", CancellationToken.None));
    }

    [Fact]
    public async Task The_ready_count_leaves_out_leased_items_and_retries_not_yet_due()
    {
        var spool = await OpenAsync("spool");
        for (var i = 0; i < 4; i++)
        {
            await spool.EnqueueAsync("q", Item($"m{i}"), CancellationToken.None);
        }
        var leased = await spool.LeaseAsync("q", 2, LongLease, CancellationToken.None);
        await spool.CommitAsync(new QueueTransaction().Retry(leased[1], _time.GetUtcNow().AddMinutes(5)), CancellationToken.None);

        Assert.Equal(4, await spool.CountAsync("q", CancellationToken.None));
        Assert.Equal(2, await spool.ReadyCountAsync("q", CancellationToken.None));

        // The retry falls due: ready again; the lease still holds its item.
        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(3, await spool.ReadyCountAsync("q", CancellationToken.None));
    }

    [Fact]
    public async Task A_group_commit_never_exceeds_its_transaction_limit()
    {
        var spool = await OpenAsync("spool", o => o with { MaxBatchTransactions = 10 });
        var before = spool.GroupCommits;

        Task[] enqueues;
        using (spool.Committer.HoldCommits())
        {
            enqueues = Enumerable.Range(0, 35).Select(i => spool.EnqueueAsync("q", Item($"m{i}"), CancellationToken.None).AsTask()).ToArray();
        }

        await Task.WhenAll(enqueues).WaitAsync(RealTimeout);
        Assert.Equal(before + 4, spool.GroupCommits);
        var leased = await spool.LeaseAsync("q", 100, LongLease, CancellationToken.None);
        Assert.Equal(Enumerable.Range(0, 35).Select(i => $"m{i}"), leased.Select(Text));
    }

    [Fact]
    public async Task A_lost_lease_fails_only_its_own_transaction_within_a_group_commit()
    {
        var spool = await OpenAsync("spool");
        for (var i = 0; i < 10; i++)
        {
            await spool.EnqueueAsync("in", Item($"m{i}"), CancellationToken.None);
        }

        var held = await spool.LeaseAsync("in", 10, TimeSpan.FromSeconds(30), CancellationToken.None);
        // Item 0 changes hands: its lease expires and someone else leases it.
        await spool.CommitAsync(new QueueTransaction().Release(held[0]), CancellationToken.None);
        var thief = Assert.Single(await spool.LeaseAsync("in", 1, LongLease, CancellationToken.None));
        Assert.Equal(held[0].Id, thief.Id);
        var before = spool.GroupCommits;

        Task[] handOffs;
        using (spool.Committer.HoldCommits())
        {
            handOffs = held.Select(item => spool.CommitAsync(
                new QueueTransaction().Enqueue("out", new QueueItem(item.Envelope, item.Body)).Complete(item),
                CancellationToken.None).AsTask()).ToArray();
        }

        await Assert.ThrowsAsync<LeaseLostException>(() => handOffs[0].WaitAsync(RealTimeout));
        await Task.WhenAll(handOffs.Skip(1)).WaitAsync(RealTimeout);
        Assert.Equal(before + 1, spool.GroupCommits);

        Assert.Equal(1, await spool.CountAsync("in", CancellationToken.None));
        var moved = await spool.LeaseAsync("out", 100, LongLease, CancellationToken.None);
        Assert.Equal(Enumerable.Range(1, 9).Select(i => $"m{i}"), moved.Select(Text));
        await spool.CommitAsync(new QueueTransaction().Complete(thief), CancellationToken.None);
        Assert.Equal(0, await spool.CountAsync("in", CancellationToken.None));
    }

    [Fact]
    public async Task A_database_error_fails_only_its_own_transaction_within_a_group_commit()
    {
        var spool = await OpenAsync("spool");
        var before = spool.GroupCommits;

        Task[] enqueues;
        Task tooBig;
        using (spool.Committer.HoldCommits())
        {
            spool.Committer.LimitValueLength(64 * 1024);
            enqueues = Enumerable.Range(0, 3).Select(i => spool.EnqueueAsync("q", Item($"m{i}"), CancellationToken.None).AsTask()).ToArray();
            tooBig = spool.EnqueueAsync("q", Item(new string('x', 100_000)), CancellationToken.None).AsTask();
        }

        await Assert.ThrowsAsync<Microsoft.Data.Sqlite.SqliteException>(() => tooBig.WaitAsync(RealTimeout));
        await Task.WhenAll(enqueues).WaitAsync(RealTimeout);
        // The checked batch was rolled back and replayed with a savepoint per caller: one commit in all.
        Assert.Equal(before + 1, spool.GroupCommits);
        var leased = await spool.LeaseAsync("q", 10, LongLease, CancellationToken.None);
        Assert.Equal(["m0", "m1", "m2"], leased.Select(Text));
    }

    [Fact]
    public async Task A_forwarded_item_shares_its_source_bytes_and_leaves_no_body_behind()
    {
        var spool = await OpenAsync("spool");
        var tail = new string('t', 50_000);
        for (var i = 0; i < 2; i++)
        {
            await spool.EnqueueAsync("in", Item($"H: {i}\r\n\r\n{tail}"), CancellationToken.None);
        }
        foreach (var item in await spool.LeaseAsync("in", 2, LongLease, CancellationToken.None))
        {
            await spool.CommitAsync(new QueueTransaction().Forward(item, "out", new MessageEnvelope { Uuid = $"u{item.Id}" }, "New: 1\r\n\r\n"u8.ToArray(), 8),
                CancellationToken.None);
        }
        // Only the new bytes were written: the source bodies are still the only large rows.
        Assert.Equal(4, Scalar(spool, "SELECT count(*) FROM bodies"));
        Assert.Equal(2, Scalar(spool, "SELECT count(*) FROM bodies WHERE base IS NOT NULL AND length(body) = 10"));

        // A forwarded body counts whole (its bytes and its base's) against a lease's byte limit.
        var forwarded = (await spool.LeaseAsync("out", 2, 50_002, LongLease, CancellationToken.None)).ToList();
        Assert.Single(forwarded);
        forwarded.AddRange(await spool.LeaseAsync("out", 2, LongLease, CancellationToken.None));
        Assert.Equal(2, forwarded.Count);
        Assert.All(forwarded, f => Assert.Equal($"New: 1\r\n\r\n{tail}", Text(f)));
        await spool.CommitAsync(new QueueTransaction().Complete(forwarded[0]).DeadLetter(forwarded[1], "poison"), CancellationToken.None);

        Assert.Equal(0, Scalar(spool, "SELECT count(*) FROM bodies"));
        var dead = Assert.Single(await spool.ReadDeadLettersAsync("out", 10, CancellationToken.None));
        Assert.Equal($"New: 1\r\n\r\n{tail}", Encoding.UTF8.GetString(dead.Body.Span));
    }

    [Fact]
    public async Task A_spool_of_the_first_format_is_upgraded_in_place()
    {
        var path = _directory.Sub("v1");
        Directory.CreateDirectory(path);
        using (var v1 = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(path, "spool.db")};Pooling=False"))
        {
            v1.Open();
            using var create = v1.CreateCommand();
            create.CommandText = """
                PRAGMA journal_mode = WAL;
                CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, not_before INTEGER NOT NULL,
                    lease_token INTEGER, attempts INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, envelope BLOB NOT NULL);
                CREATE INDEX items_due ON items (queue, not_before);
                CREATE TABLE bodies (id INTEGER PRIMARY KEY, body BLOB NOT NULL);
                CREATE TABLE dead_letters (id INTEGER PRIMARY KEY, queue TEXT NOT NULL, envelope BLOB NOT NULL, body BLOB,
                    reason TEXT NOT NULL, attempts INTEGER NOT NULL, created_at INTEGER NOT NULL, failed_at INTEGER NOT NULL);
                CREATE INDEX dead_letters_queue ON dead_letters (queue, id);
                INSERT INTO items (queue, not_before, created_at, envelope) VALUES ('q', 0, 0, X'7B7D');
                INSERT INTO bodies (id, body) VALUES (1, CAST('H: 1' || char(13, 10, 13, 10) || 'old' AS BLOB));
                PRAGMA user_version = 1;
                """;
            create.ExecuteNonQuery();
        }

        var spool = await OpenAsync("v1");
        var old = Assert.Single(await spool.LeaseAsync("q", 10, LongLease, CancellationToken.None));
        await spool.CommitAsync(new QueueTransaction().Forward(old, "out", MessageEnvelope.Empty, "N: 2\r\n\r\n"u8.ToArray(), 8), CancellationToken.None);
        Assert.Equal("N: 2\r\n\r\nold", Text(Assert.Single(await spool.LeaseAsync("out", 10, LongLease, CancellationToken.None))));
        Assert.Equal(2, Scalar(spool, "PRAGMA user_version"));
    }

    [Fact]
    public async Task A_caller_cancelled_before_its_commit_runs_gets_nothing_applied()
    {
        var spool = await OpenAsync("spool");
        using var cancel = new CancellationTokenSource();

        Task cancelled, kept;
        using (spool.Committer.HoldCommits())
        {
            cancelled = spool.EnqueueAsync("q", Item("cancelled"), cancel.Token).AsTask();
            kept = spool.EnqueueAsync("q", Item("kept"), CancellationToken.None).AsTask();
            await cancel.CancelAsync();
        }

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(RealTimeout));
        await kept.WaitAsync(RealTimeout);
        Assert.Equal(["kept"], (await spool.LeaseAsync("q", 10, LongLease, CancellationToken.None)).Select(Text));
    }

    [Fact]
    public async Task Acknowledged_items_are_on_disk_before_the_spool_closes()
    {
        // Copying the files of a spool that is still open is what a crash leaves behind (no checkpoint,
        // no clean close): the database, its write-ahead log, and no shared-memory index.
        var spool = await OpenAsync("spool");
        for (var i = 0; i < 20; i++)
        {
            await spool.EnqueueAsync("q", Item($"m{i}", new MessageEnvelope { Uuid = $"u{i}" }), CancellationToken.None);
        }

        var crashed = _directory.Sub("crashed");
        Directory.CreateDirectory(crashed);
        foreach (var name in new[] { "spool.db", "spool.db-wal" })
        {
            var source = Path.Combine(_directory.Sub("spool"), name);
            if (File.Exists(source))
            {
                File.Copy(source, Path.Combine(crashed, name));
            }
        }

        var recovered = await OpenAsync("crashed");
        var items = await recovered.LeaseAsync("q", 100, LongLease, CancellationToken.None);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"m{i}"), items.Select(Text));
        Assert.Equal("u7", items[7].Envelope.Uuid);
    }

    [Fact]
    public async Task A_spool_in_use_cannot_be_opened_twice()
    {
        var spool = await OpenAsync("spool");

        await Assert.ThrowsAsync<IOException>(() => OpenAsync("spool"));

        await spool.DisposeAsync();
        _spools.Remove(spool);
        var again = await OpenAsync("spool");
        Assert.Equal(0, await again.CountAsync("q", CancellationToken.None));
    }

    [Fact]
    public async Task Dead_letters_keep_the_item_and_the_reason()
    {
        var spool = await OpenAsync("spool");
        await spool.EnqueueAsync("q", Item("poison", new MessageEnvelope { Uuid = "u1" }), CancellationToken.None);
        var item = Assert.Single(await spool.LeaseAsync("q", 1, LongLease, CancellationToken.None));
        await spool.CommitAsync(new QueueTransaction().Retry(item, _time.GetUtcNow()), CancellationToken.None);
        item = Assert.Single(await spool.LeaseAsync("q", 1, LongLease, CancellationToken.None));
        _time.Advance(TimeSpan.FromSeconds(3));

        await spool.CommitAsync(new QueueTransaction().DeadLetter(item, "554 5.6.0 cannot parse"), CancellationToken.None);

        var dead = Assert.Single(await spool.ReadDeadLettersAsync("q", 10, CancellationToken.None));
        Assert.Equal(item.Id, dead.Id);
        Assert.Equal("q", dead.Queue);
        Assert.Equal("u1", dead.Envelope.Uuid);
        Assert.Equal("poison", Encoding.UTF8.GetString(dead.Body.Span));
        Assert.Equal("554 5.6.0 cannot parse", dead.Reason);
        Assert.Equal(1, dead.Attempts);
        Assert.Equal(item.CreatedAt, dead.CreatedAt);
        Assert.Equal(_time.GetUtcNow(), dead.FailedAt);
        Assert.Empty(await spool.ReadDeadLettersAsync("other", 10, CancellationToken.None));
    }

    [Fact]
    public async Task Bodies_that_are_slices_or_large_round_trip()
    {
        var spool = await OpenAsync("spool");
        var backing = Enumerable.Range(0, 100).Select(i => (byte)i).ToArray();
        var large = new byte[3 * 1024 * 1024];
        new Random(42).NextBytes(large);

        await spool.EnqueueAsync("q", new QueueItem(MessageEnvelope.Empty, backing.AsMemory(10, 50)), CancellationToken.None);
        await spool.EnqueueAsync("q", new QueueItem(MessageEnvelope.Empty, large), CancellationToken.None);
        await spool.EnqueueAsync("q", new QueueItem(MessageEnvelope.Empty, large.AsMemory(1)), CancellationToken.None);
        await spool.EnqueueAsync("q", new QueueItem(MessageEnvelope.Empty, backing.AsMemory(5, 0)), CancellationToken.None);

        var items = await spool.LeaseAsync("q", 10, LongLease, CancellationToken.None);
        Assert.Equal(4, items.Count);
        Assert.Equal(backing.AsSpan(10, 50).ToArray(), items[0].Body.ToArray());
        Assert.True(items[1].Body.Span.SequenceEqual(large));
        Assert.True(items[2].Body.Span.SequenceEqual(large.AsSpan(1)));
        Assert.True(items[3].Body.IsEmpty);
    }

    [Fact]
    public async Task Lease_tokens_are_not_reused_after_a_reopen()
    {
        var spool = await OpenAsync("spool");
        await spool.EnqueueAsync("q", Item("x"), CancellationToken.None);
        var first = Assert.Single(await spool.LeaseAsync("q", 1, LongLease, CancellationToken.None));
        await spool.CommitAsync(new QueueTransaction().Release(first), CancellationToken.None);
        await spool.DisposeAsync();
        _spools.Remove(spool);

        var reopened = await OpenAsync("spool");
        var second = Assert.Single(await reopened.LeaseAsync("q", 1, LongLease, CancellationToken.None));

        Assert.Equal(first.Id, second.Id);
        Assert.NotEqual(first.LeaseToken, second.LeaseToken);
        await Assert.ThrowsAsync<LeaseLostException>(() => reopened.CommitAsync(new QueueTransaction().Complete(first), CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task Dispose_wakes_waiters_and_finishes_pending_commits()
    {
        var spool = await OpenAsync("spool");
        var wait = spool.WaitForItemsAsync("q", TimeSpan.FromHours(1), CancellationToken.None).AsTask();
        Task[] enqueues;
        using (spool.Committer.HoldCommits())
        {
            enqueues = Enumerable.Range(0, 5).Select(i => spool.EnqueueAsync("q", Item($"m{i}"), CancellationToken.None).AsTask()).ToArray();
        }

        await spool.DisposeAsync();
        _spools.Remove(spool);

        await wait.WaitAsync(RealTimeout);
        await Task.WhenAll(enqueues).WaitAsync(RealTimeout);
        var reopened = await OpenAsync("spool");
        Assert.Equal(5, await reopened.CountAsync("q", CancellationToken.None));
    }

    [Fact]
    public async Task The_database_uses_write_ahead_logging_and_full_sync()
    {
        var spool = await OpenAsync("spool");
        await spool.EnqueueAsync("q", Item("x"), CancellationToken.None);

        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={spool.DatabasePath};Mode=ReadOnly;Pooling=false");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", command.ExecuteScalar() as string);
        command.CommandText = "SELECT CAST(envelope AS TEXT) FROM items";
        Assert.Equal("{\"recipients\":[]}", command.ExecuteScalar() as string);
    }

    private async Task<EmbeddedSpool> OpenAsync(string name, Func<EmbeddedSpoolOptions, EmbeddedSpoolOptions>? configure = null)
    {
        var options = new EmbeddedSpoolOptions { Path = _directory.Sub(name) };
        var spool = await EmbeddedSpool.OpenAsync(configure?.Invoke(options) ?? options, _time, CancellationToken.None);
        _spools.Add(spool);
        return spool;
    }

    private static QueueItem Item(string text, MessageEnvelope? envelope = null) =>
        new(envelope ?? MessageEnvelope.Empty, Encoding.UTF8.GetBytes(text));

    private static long Scalar(EmbeddedSpool spool, string sql)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={spool.DatabasePath};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }

    private static string Text(LeasedItem item) => Encoding.UTF8.GetString(item.Body.Span);
}
