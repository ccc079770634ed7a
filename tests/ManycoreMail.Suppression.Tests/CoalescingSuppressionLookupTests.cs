using ManycoreMail.Suppression.Sqlite;

namespace ManycoreMail.Suppression.Tests;

/// <summary>The door's lookups against a real SQLite list, through a store that records each round and can hold one
/// open, so that what arrives meanwhile is seen to wait for the next round.</summary>
public sealed class CoalescingSuppressionLookupTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("mm-coalesce-");
    private HeldStore _store = null!;

    public async Task InitializeAsync()
    {
        _store = new HeldStore(SqliteSuppressionStore.Open(new SqliteSuppressionStoreOptions { Path = Path.Combine(_directory.FullName, "s.db") }));
        await _store.AddAsync(
        [
            SuppressionEntry.Create("a@example.com", SuppressionScope.Global, null, SuppressionReason.Complaint, Now.AddDays(-1), null),
            SuppressionEntry.Create("b@example.com", SuppressionScope.Domain, "shop.example", SuppressionReason.Unsubscribe, Now.AddDays(-1), null),
            SuppressionEntry.Create("gone@example.com", SuppressionScope.Global, null, SuppressionReason.Manual, Now.AddDays(-2), Now.AddDays(-1)),
        ], CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        _directory.Delete(recursive: true);
    }

    [Fact]
    public async Task A_caller_alone_is_answered_by_a_round_of_its_own_at_once()
    {
        var lookup = new CoalescingSuppressionLookup(_store);

        var found = await lookup.FindAsync(["a@example.com", "nobody@example.com", "gone@example.com"], Now, CancellationToken.None);

        Assert.Equal(SuppressionReason.Complaint, Assert.Single(Assert.Single(found).Value).Reason);
        Assert.Equal(["a@example.com", "gone@example.com", "nobody@example.com"], Assert.Single(_store.Rounds));
        Assert.Empty(await lookup.FindAsync([], Now, CancellationToken.None));
        Assert.Single(_store.Rounds);
    }

    [Fact]
    public async Task Callers_arriving_while_a_round_is_out_go_together_in_the_next_and_each_gets_only_its_addresses()
    {
        var lookup = new CoalescingSuppressionLookup(_store);
        var (hold, first) = await RoundHeldOpenAsync(lookup, "nobody@example.com");

        var waiting = new[]
        {
            lookup.FindAsync(["a@example.com"], Now, CancellationToken.None),
            lookup.FindAsync(["b@example.com", "c@example.com"], Now, CancellationToken.None),
            lookup.FindAsync(["c@example.com", "a@example.com"], Now.AddSeconds(1), CancellationToken.None),
        };
        Assert.All(waiting, t => Assert.False(t.IsCompleted));
        hold.SetResult();
        var answers = await Task.WhenAll(waiting).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Empty(await first);
        Assert.Equal(2, _store.Rounds.Count);
        Assert.Equal(["a@example.com", "b@example.com", "c@example.com"], _store.Rounds[1]);
        Assert.Equal(["a@example.com"], answers[0].Keys);
        Assert.Equal(SuppressionReason.Unsubscribe, Assert.Single(Assert.Single(answers[1]).Value).Reason);
        Assert.Equal(["a@example.com"], answers[2].Keys);
    }

    [Fact]
    public async Task A_round_carries_at_most_the_given_number_of_addresses()
    {
        var lookup = new CoalescingSuppressionLookup(_store, maxAddresses: 3);
        var (hold, first) = await RoundHeldOpenAsync(lookup, "x@example.com");

        var waiting = Enumerable.Range(0, 5).Select(i => lookup.FindAsync([$"u{i}@example.com", "a@example.com"], Now, CancellationToken.None)).ToArray();
        var oversized = lookup.FindAsync(["p@example.com", "q@example.com", "r@example.com", "s@example.com"], Now, CancellationToken.None);
        hold.SetResult();
        var answers = await Task.WhenAll(waiting.Append(oversized)).WaitAsync(TimeSpan.FromSeconds(10));
        await first;

        // Two callers of two addresses (three distinct) would be four: one caller per round, then the oversized one alone.
        Assert.Equal(7, _store.Rounds.Count);
        Assert.Equal(4, _store.Rounds[^1].Count);
        Assert.All(answers.Take(5), a => Assert.Equal(["a@example.com"], a.Keys));
    }

    [Fact]
    public async Task A_failing_round_fails_every_caller_in_it_and_the_next_round_is_asked_afresh()
    {
        var lookup = new CoalescingSuppressionLookup(_store);
        var (hold, first) = await RoundHeldOpenAsync(lookup, "a@example.com");
        _store.FailNextRound = true;
        var second = lookup.FindAsync(["a@example.com"], Now, CancellationToken.None);
        var third = lookup.FindAsync(["b@example.com"], Now, CancellationToken.None);
        hold.SetResult();

        Assert.Single(await first);
        await Assert.ThrowsAsync<InvalidOperationException>(() => second.WaitAsync(TimeSpan.FromSeconds(10)));
        await Assert.ThrowsAsync<InvalidOperationException>(() => third.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Single(await lookup.FindAsync(["b@example.com"], Now, CancellationToken.None));
    }

    [Fact]
    public async Task A_caller_that_gives_up_leaves_the_round_to_the_others()
    {
        var lookup = new CoalescingSuppressionLookup(_store);
        var (hold, first) = await RoundHeldOpenAsync(lookup, "x@example.com");
        using var giveUp = new CancellationTokenSource();
        var impatient = lookup.FindAsync(["a@example.com"], Now, giveUp.Token);
        var patient = lookup.FindAsync(["a@example.com"], Now, CancellationToken.None);

        await giveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => impatient);
        hold.SetResult();

        Assert.Single(await patient.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Empty(await first);
    }

    [Fact]
    public async Task Many_callers_at_once_each_get_exactly_their_own_entries_and_none_is_left_waiting()
    {
        var lookup = new CoalescingSuppressionLookup(_store, maxAddresses: 16);
        string[] pool = ["a@example.com", "b@example.com", "gone@example.com", "n1@example.com", "n2@example.com", "n3@example.com"];

        var callers = Enumerable.Range(0, 400).Select(i => Task.Run(async () =>
        {
            var asked = new[] { pool[i % pool.Length], pool[(i / 2) % pool.Length], pool[(i / 3) % pool.Length] }.Distinct().ToArray();
            var found = await lookup.FindAsync(asked, Now, CancellationToken.None);
            return (asked, found);
        })).ToArray();
        var answers = await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(30));

        foreach (var (asked, found) in answers)
        {
            var expected = asked.Where(e => e is "a@example.com" or "b@example.com").Order(StringComparer.Ordinal);
            Assert.Equal(expected, found.Keys.Order(StringComparer.Ordinal));
        }
        // How many rounds there were depends on the timing; none may carry more than the limit.
        Assert.All(_store.Rounds, round => Assert.InRange(round.Count, 1, 16));
    }

    /// <summary>A round for <paramref name="email"/> started and held open at the store until the hold is released.</summary>
    private async Task<(TaskCompletionSource Hold, Task<IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>>> First)> RoundHeldOpenAsync(
        CoalescingSuppressionLookup lookup, string email)
    {
        var hold = _store.HoldNextRound();
        var first = lookup.FindAsync([email], Now, CancellationToken.None);
        await _store.RoundStarted.WaitAsync(TimeSpan.FromSeconds(10));
        return (hold, first);
    }

    /// <summary>The real store, with each round's addresses recorded (sorted) and the next round held on request.</summary>
    private sealed class HeldStore(ISuppressionStore inner) : ISuppressionStore
    {
        private readonly SemaphoreSlim _started = new(0);
        private TaskCompletionSource? _hold;

        public List<List<string>> Rounds { get; } = [];

        public bool FailNextRound { get; set; }

        public Task RoundStarted => _started.WaitAsync();

        public TaskCompletionSource HoldNextRound() => _hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>>> FindAsync(IReadOnlyCollection<string> emails, DateTimeOffset now,
            CancellationToken cancellationToken)
        {
            lock (Rounds)
            {
                Rounds.Add(emails.Order(StringComparer.Ordinal).ToList());
            }
            // Decided as the round comes in: a round already out when the flag is set is not the one that fails.
            var fail = FailNextRound;
            FailNextRound = false;
            var hold = Interlocked.Exchange(ref _hold, null);
            _started.Release();
            if (hold is not null)
            {
                await hold.Task;
            }
            if (fail)
            {
                throw new InvalidOperationException("the list cannot be read");
            }
            return await inner.FindAsync(emails, now, cancellationToken);
        }

        public Task AddAsync(IReadOnlyList<SuppressionEntry> entries, CancellationToken cancellationToken) => inner.AddAsync(entries, cancellationToken);

        public Task<bool> RemoveAsync(string email, SuppressionScope scope, string? value, CancellationToken cancellationToken) =>
            inner.RemoveAsync(email, scope, value, cancellationToken);

        public Task<SuppressionPage> ListAsync(SuppressionQuery query, CancellationToken cancellationToken) => inner.ListAsync(query, cancellationToken);

        public Task<long> PurgeExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken) => inner.PurgeExpiredAsync(now, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
