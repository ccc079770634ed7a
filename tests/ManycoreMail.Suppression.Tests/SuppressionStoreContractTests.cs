using System.Globalization;

namespace ManycoreMail.Suppression.Tests;

/// <summary>
/// What every <see cref="ISuppressionStore"/> must do, whatever holds the entries. A store's test class derives from
/// this one and says only how to open its store; every test starts from an empty store.
/// </summary>
public abstract class SuppressionStoreContractTests : IAsyncLifetime
{
    protected static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    private readonly List<ISuppressionStore> _open = [];

    /// <summary>Opens the store under test. Within one test every call opens the same data (the second call is a
    /// reopen after a restart); each test starts with an empty store. A purge deletes at most
    /// <paramref name="purgeChunk"/> entries per transaction.</summary>
    protected abstract Task<ISuppressionStore> OpenStoreAsync(int purgeChunk);

    /// <summary>Deletes the test's data; called after every store the test opened is disposed.</summary>
    protected virtual Task DeleteStoreAsync() => Task.CompletedTask;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var store in _open)
        {
            await store.DisposeAsync();
        }

        await DeleteStoreAsync();
    }

    protected async Task<ISuppressionStore> OpenAsync(int purgeChunk = 5_000)
    {
        var store = await OpenStoreAsync(purgeChunk);
        _open.Add(store);
        return store;
    }

    protected static SuppressionEntry Entry(string email, SuppressionScope scope = SuppressionScope.Global, string? value = null,
        SuppressionReason reason = SuppressionReason.Manual, DateTimeOffset? created = null, DateTimeOffset? expires = null) =>
        SuppressionEntry.Create(email, scope, value, reason, created ?? Now, expires);

    protected static string N(int i) => i.ToString("D5", CultureInfo.InvariantCulture);

    [Fact]
    public async Task An_added_entry_is_found_normalised_with_every_field()
    {
        var store = await OpenAsync();
        var entry = Entry("  John.Doe@Example.COM ", SuppressionScope.Sender, "News@Shop.Example", SuppressionReason.Unsubscribe,
            Now.AddDays(-1), Now.AddDays(30));
        await store.AddAsync([entry], CancellationToken.None);

        var found = await store.FindAsync(["john.doe@example.com", "nobody@example.com"], Now, CancellationToken.None);

        var only = Assert.Single(Assert.Contains("john.doe@example.com", found));
        Assert.Equal("john.doe@example.com", only.Email);
        Assert.Equal(SuppressionScope.Sender, only.Scope);
        Assert.Equal("news@shop.example", only.Value);
        Assert.Equal(SuppressionReason.Unsubscribe, only.Reason);
        Assert.Equal(Now.AddDays(-1), only.Created);
        Assert.Equal(Now.AddDays(30), only.Expires);
        Assert.Equal(TimeSpan.Zero, only.Created.Offset);
        Assert.DoesNotContain("nobody@example.com", found.Keys);
    }

    [Fact]
    public async Task Find_groups_every_scope_of_an_address_and_answers_only_the_addresses_asked()
    {
        var store = await OpenAsync();
        await store.AddAsync([
            Entry("a@example.com"),
            Entry("a@example.com", SuppressionScope.Domain, "shop.example"),
            Entry("a@example.com", SuppressionScope.Tenant, "Acme"),
            Entry("b@example.com", SuppressionScope.Sender, "news@shop.example"),
            Entry("c@example.com"),
        ], CancellationToken.None);

        var found = await store.FindAsync(["a@example.com", "b@example.com", "d@example.com"], Now, CancellationToken.None);

        Assert.Equal(["a@example.com", "b@example.com"], found.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["domain:shop.example", "global", "tenant:Acme"],
            found["a@example.com"].Select(e => SuppressionNames.Format(e.Scope, e.Value)).Order(StringComparer.Ordinal));
        Assert.Equal(SuppressionScope.Sender, Assert.Single(found["b@example.com"]).Scope);
        Assert.Empty(await store.FindAsync([], Now, CancellationToken.None));
    }

    [Fact]
    public async Task Find_answers_a_thousand_addresses_in_one_call()
    {
        var store = await OpenAsync();
        await store.AddAsync(Enumerable.Range(0, 2_000).Where(i => i % 2 == 0).Select(i => Entry($"user{N(i)}@example.com")).ToList(), CancellationToken.None);

        var asked = Enumerable.Range(0, 1_000).Select(i => $"user{N(i)}@example.com").ToList();
        var found = await store.FindAsync(asked, Now, CancellationToken.None);

        Assert.Equal(asked.Where((_, i) => i % 2 == 0), found.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Adding_an_existing_entry_replaces_its_reason_and_times()
    {
        var store = await OpenAsync();
        await store.AddAsync([Entry("a@example.com", SuppressionScope.Domain, "shop.example", SuppressionReason.Manual, Now.AddDays(-2), Now.AddDays(1))], CancellationToken.None);
        await store.AddAsync([Entry("A@Example.com", SuppressionScope.Domain, "SHOP.example.", SuppressionReason.Complaint, Now, null)], CancellationToken.None);

        var page = await store.ListAsync(new SuppressionQuery(), CancellationToken.None);

        var entry = Assert.Single(page.Entries);
        Assert.Equal(SuppressionReason.Complaint, entry.Reason);
        Assert.Equal(Now, entry.Created);
        Assert.Null(entry.Expires);
        Assert.Null(page.Next);
    }

    [Fact]
    public async Task Remove_normalises_its_key_and_says_whether_there_was_an_entry()
    {
        var store = await OpenAsync();
        await store.AddAsync([
            Entry("a@example.com", SuppressionScope.Domain, "shop.example"),
            Entry("a@example.com"),
        ], CancellationToken.None);

        Assert.True(await store.RemoveAsync(" A@EXAMPLE.com", SuppressionScope.Domain, "Shop.Example.", CancellationToken.None));
        Assert.False(await store.RemoveAsync("a@example.com", SuppressionScope.Domain, "shop.example", CancellationToken.None));
        Assert.False(await store.RemoveAsync("a@example.com", SuppressionScope.Sender, "x@shop.example", CancellationToken.None));

        var left = Assert.Single((await store.ListAsync(new SuppressionQuery(), CancellationToken.None)).Entries);
        Assert.Equal(SuppressionScope.Global, left.Scope);
        await Assert.ThrowsAsync<ArgumentException>(() => store.RemoveAsync("not-an-address", SuppressionScope.Global, null, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => store.RemoveAsync("a@example.com", SuppressionScope.Global, "x", CancellationToken.None));
    }

    [Fact]
    public async Task Expired_entries_are_ignored_by_find_and_deleted_by_purge_in_chunks()
    {
        var store = await OpenAsync(purgeChunk: 3);
        var expired = Enumerable.Range(0, 10).Select(i => Entry($"old{N(i)}@example.com", expires: Now.AddMinutes(-i))).ToList();
        await store.AddAsync([
            .. expired,
            Entry("later@example.com", expires: Now.AddSeconds(1)),
            Entry("forever@example.com"),
        ], CancellationToken.None);

        var found = await store.FindAsync([.. expired.Select(e => e.Email), "later@example.com", "forever@example.com"], Now, CancellationToken.None);
        Assert.Equal(["forever@example.com", "later@example.com"], found.Keys.Order(StringComparer.Ordinal));

        Assert.Equal(10, await store.PurgeExpiredAsync(Now, CancellationToken.None));
        Assert.Equal(0, await store.PurgeExpiredAsync(Now, CancellationToken.None));
        var left = (await store.ListAsync(new SuppressionQuery(), CancellationToken.None)).Entries;
        Assert.Equal(["forever@example.com", "later@example.com"], left.Select(e => e.Email));
    }

    [Fact]
    public async Task Paging_visits_every_entry_exactly_once_in_order()
    {
        var store = await OpenAsync();
        var entries = new List<SuppressionEntry>();
        for (var i = 0; i < 60; i++)
        {
            entries.Add(Entry($"user{N(i)}@example.com"));
            if (i % 3 == 0)
            {
                entries.Add(Entry($"user{N(i)}@example.com", SuppressionScope.Domain, "shop.example"));
                entries.Add(Entry($"user{N(i)}@example.com", SuppressionScope.Sender, "news@shop.example"));
            }
        }

        await store.AddAsync(entries, CancellationToken.None);

        var seen = await AllPagesAsync(store, new SuppressionQuery { Limit = 7 });

        Assert.Equal(entries.Count, seen.Count);
        Assert.Equal(entries.Select(Key).Order(StringComparer.Ordinal), seen.Select(Key).Order(StringComparer.Ordinal));
        Assert.Equal(seen.Select(e => e.Email).Order(StringComparer.Ordinal), seen.Select(e => e.Email));
    }

    [Fact]
    public async Task Paging_one_address_lists_only_its_entries()
    {
        var store = await OpenAsync();
        await store.AddAsync([
            Entry("a@example.com"),
            Entry("b@example.com"),
            .. Enumerable.Range(0, 5).Select(i => Entry("b@example.com", SuppressionScope.Tenant, "tenant" + N(i))),
            Entry("c@example.com"),
        ], CancellationToken.None);

        var first = await store.ListAsync(new SuppressionQuery { Email = " B@example.COM", Limit = 2 }, CancellationToken.None);
        var seen = await AllPagesAsync(store, new SuppressionQuery { Email = "b@example.com", Limit = 2 });

        Assert.Equal(2, first.Entries.Count);
        Assert.NotNull(first.Next);
        Assert.Equal(6, seen.Count);
        Assert.All(seen, e => Assert.Equal("b@example.com", e.Email));
        Assert.Equal(6, seen.Select(Key).Distinct().Count());
        Assert.Empty((await store.ListAsync(new SuppressionQuery { Email = "z@example.com" }, CancellationToken.None)).Entries);
    }

    [Fact]
    public async Task A_cursor_still_works_after_its_last_entry_is_removed()
    {
        var store = await OpenAsync();
        await store.AddAsync(Enumerable.Range(0, 6).Select(i => Entry($"user{N(i)}@example.com")).ToList(), CancellationToken.None);

        var first = await store.ListAsync(new SuppressionQuery { Limit = 3 }, CancellationToken.None);
        Assert.True(await store.RemoveAsync(first.Entries[^1].Email, SuppressionScope.Global, null, CancellationToken.None));
        var second = await store.ListAsync(new SuppressionQuery { Limit = 3, After = first.Next }, CancellationToken.None);

        Assert.Equal(["user00003@example.com", "user00004@example.com", "user00005@example.com"], second.Entries.Select(e => e.Email));
        Assert.Null(second.Next);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a cursor")]
    [InlineData("AQAA")]
    public async Task A_cursor_the_store_did_not_hand_out_is_refused(string cursor)
    {
        var store = await OpenAsync();
        await Assert.ThrowsAsync<ArgumentException>(() => store.ListAsync(new SuppressionQuery { After = cursor }, CancellationToken.None));
    }

    [Fact]
    public async Task An_edited_cursor_and_a_limit_out_of_range_are_refused()
    {
        var store = await OpenAsync();
        await store.AddAsync([Entry("a@example.com"), Entry("b@example.com")], CancellationToken.None);
        var next = (await store.ListAsync(new SuppressionQuery { Limit = 1 }, CancellationToken.None)).Next!;
        var edited = next[..^2] + (next[^2] == 'A' ? 'B' : 'A') + next[^1];

        await Assert.ThrowsAsync<ArgumentException>(() => store.ListAsync(new SuppressionQuery { After = edited }, CancellationToken.None));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.ListAsync(new SuppressionQuery { Limit = 0 }, CancellationToken.None));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.ListAsync(new SuppressionQuery { Limit = SuppressionQuery.MaxLimit + 1 }, CancellationToken.None));
        Assert.Single((await store.ListAsync(new SuppressionQuery { Limit = 1, After = next }, CancellationToken.None)).Entries);
    }

    [Fact]
    public async Task Entries_survive_reopening_the_store()
    {
        var first = await OpenAsync();
        await first.AddAsync([
            Entry("a@example.com", SuppressionScope.Tenant, "Acme", SuppressionReason.Bounce, Now, Now.AddDays(3)),
            Entry("b@example.com", reason: SuppressionReason.Complaint),
        ], CancellationToken.None);
        Assert.True(await first.RemoveAsync("b@example.com", SuppressionScope.Global, null, CancellationToken.None));
        await first.DisposeAsync();

        var reopened = await OpenAsync();
        var entry = Assert.Single((await reopened.ListAsync(new SuppressionQuery(), CancellationToken.None)).Entries);

        Assert.Equal(Entry("a@example.com", SuppressionScope.Tenant, "Acme", SuppressionReason.Bounce, Now, Now.AddDays(3)), entry);
    }

    [Fact]
    public async Task A_large_batch_is_added_whole()
    {
        var store = await OpenAsync();
        await store.AddAsync([], CancellationToken.None);
        await store.AddAsync(Enumerable.Range(0, 5_000).Select(i => Entry($"user{N(i)}@example.com")).ToList(), CancellationToken.None);

        Assert.Equal(5_000, (await AllPagesAsync(store, new SuppressionQuery { Limit = SuppressionQuery.MaxLimit })).Count);
    }

    protected static async Task<List<SuppressionEntry>> AllPagesAsync(ISuppressionStore store, SuppressionQuery query)
    {
        var all = new List<SuppressionEntry>();
        var page = await store.ListAsync(query, CancellationToken.None);
        all.AddRange(page.Entries);
        while (page.Next is { } next)
        {
            page = await store.ListAsync(query with { After = next }, CancellationToken.None);
            all.AddRange(page.Entries);
        }

        return all;
    }

    private static string Key(SuppressionEntry entry) => entry.Email + " " + SuppressionNames.Format(entry.Scope, entry.Value);
}
