using System.Text.Json;
using static ManycoreMail.EventStore.Tests.TempStore;

namespace ManycoreMail.EventStore.Tests;

/// <summary>
/// What every <see cref="IEventStore"/> promises, run against each store by a subclass that says how to open one.
/// Within a test every open names the same storage, so a reopen finds what was appended before.
/// </summary>
public abstract class EventStoreContractTests
{
    private static readonly DateTimeOffset Epoch = DateTimeOffset.FromUnixTimeSeconds(0);

    /// <summary>Opens the test's store (creating it on first use).</summary>
    protected abstract Task<IEventStore> OpenAsync(int purgeChunk = 5_000);

    [Fact]
    public async Task An_empty_store_answers_an_empty_last_page()
    {
        await using var store = await OpenAsync();

        var page = await store.QueryAsync(new EventQuery(), CancellationToken.None);

        Assert.Empty(page.Events);
        Assert.Null(page.Next);
    }

    [Fact]
    public async Task Events_come_back_byte_identical_in_append_order_with_growing_ids()
    {
        // Odd spacing, escapes, nested values and a member order of its own: nothing may be re-serialised.
        string[] originals =
        [
            """{"event":"delivered","uuid":"u1","timestamp":10,"ip":"192.0.2.1","email":"a@example.com"}""",
            " {\"timestamp\" : 11 ,\"event\":\"click\", \"url\":\"https://x.example/?a=1&b=\\u00e9\",\"nested\":{\"id\":1}}\n",
            """{"event":"error","msg":"caf\u00e9 ☕","stack-trace":"","service":"transformer","uuid":null,"timestamp":12}""",
        ];
        await using var store = await OpenAsync();

        await store.AppendAsync([.. originals.Select(Event)], CancellationToken.None);
        var page = await store.QueryAsync(new EventQuery(), CancellationToken.None);

        Assert.Equal(originals, page.Events.Select(Text));
        Assert.True(page.Events[0].Id < page.Events[1].Id && page.Events[1].Id < page.Events[2].Id);
        foreach (var stored in page.Events)
        {
            using var withId = JsonDocument.Parse(stored.ToJsonWithId());
            Assert.Equal(stored.Id, withId.RootElement.GetProperty("id").GetInt64());
        }
    }

    [Fact]
    public async Task Each_filter_alone_selects_exactly_its_events()
    {
        await using var store = await OpenAsync();
        await store.AppendAsync(
        [
            Delivered("u1", "a@example.com", 100),
            Bounce("u1", "b@example.com", 200),
            Delivered("u2", "B@Example.com", 300),
            Event("""{"event":"error","msg":"m","stack-trace":"","service":"receiver","uuid":null,"timestamp":400}"""),
            Bounce("u3", "c@example.com", 500),
        ], CancellationToken.None);

        Assert.Equal([100L, 200L], await TimestampsAsync(store, new EventQuery { Uuid = "u1" }));
        Assert.Equal([200L, 300L], await TimestampsAsync(store, new EventQuery { Email = "b@EXAMPLE.com" }));
        Assert.Equal([200L, 500L], await TimestampsAsync(store, new EventQuery { Event = "bounce" }));
        Assert.Equal([300L, 400L, 500L], await TimestampsAsync(store, new EventQuery { Since = At(300) }));
        Assert.Equal([100L, 200L], await TimestampsAsync(store, new EventQuery { Until = At(300) }));
        Assert.Equal([300L, 400L], await TimestampsAsync(store, new EventQuery { Since = At(300), Until = At(500) }));
        Assert.Equal([400L], await TimestampsAsync(store, new EventQuery { Event = "error" }));
        Assert.Empty(await TimestampsAsync(store, new EventQuery { Uuid = "nope" }));
    }

    [Fact]
    public async Task Filters_combine_as_and()
    {
        await using var store = await OpenAsync();
        await store.AppendAsync(
        [
            Delivered("u1", "a@example.com", 100),
            Bounce("u1", "a@example.com", 200),
            Bounce("u1", "b@example.com", 300),
            Bounce("u2", "a@example.com", 400),
            Bounce("u1", "a@example.com", 500),
        ], CancellationToken.None);

        Assert.Equal([200L, 500L], await TimestampsAsync(store, new EventQuery { Uuid = "u1", Email = "a@example.com", Event = "bounce" }));
        Assert.Equal([200L], await TimestampsAsync(store, new EventQuery { Uuid = "u1", Event = "bounce", Since = At(150), Until = At(300) }));
        Assert.Equal([400L], await TimestampsAsync(store, new EventQuery { Email = "a@example.com", Since = At(300), Until = At(500) }));
        Assert.Empty(await TimestampsAsync(store, new EventQuery { Uuid = "u2", Event = "delivered" }));
    }

    [Fact]
    public async Task Pages_of_1000_over_2500_events_return_each_exactly_once_oldest_first()
    {
        await using var store = await OpenAsync();
        for (var batch = 0; batch < 5; batch++)
        {
            await store.AppendAsync([.. Enumerable.Range(batch * 500, 500).Select(i => Delivered("u" + N(i), "a@example.com", i))], CancellationToken.None);
        }

        var pages = new List<EventPage>();
        string? after = null;
        do
        {
            var page = await store.QueryAsync(new EventQuery { Limit = 1000, After = after }, CancellationToken.None);
            pages.Add(page);
            after = page.Next;
        }
        while (after is not null);

        Assert.Equal([1000, 1000, 500], pages.Select(p => p.Events.Count));
        var uuids = pages.SelectMany(p => p.Events).Select(UuidOf).ToList();
        Assert.Equal(Enumerable.Range(0, 2500).Select(i => "u" + N(i)), uuids);
        var ids = pages.SelectMany(p => p.Events).Select(e => e.Id).ToList();
        Assert.Equal(ids.Order(), ids);
        Assert.Equal(2500, ids.Distinct().Count());
    }

    [Fact]
    public async Task A_page_that_ends_exactly_at_the_last_event_says_there_is_no_next()
    {
        await using var store = await OpenAsync();
        await store.AppendAsync([.. Enumerable.Range(0, 4).Select(i => Delivered("u", "a@example.com", i))], CancellationToken.None);

        var first = await store.QueryAsync(new EventQuery { Limit = 2 }, CancellationToken.None);
        var second = await store.QueryAsync(new EventQuery { Limit = 2, After = first.Next }, CancellationToken.None);

        Assert.NotNull(first.Next);
        Assert.Equal(2, second.Events.Count);
        Assert.Null(second.Next);
    }

    [Fact]
    public async Task Pagination_keeps_its_filter_and_sees_events_appended_meanwhile()
    {
        await using var store = await OpenAsync();
        await store.AppendAsync([.. Enumerable.Range(0, 6).Select(i => i % 2 == 0 ? Bounce("u", "a@example.com", i) : Delivered("u", "a@example.com", i))], CancellationToken.None);

        var first = await store.QueryAsync(new EventQuery { Event = "bounce", Limit = 2 }, CancellationToken.None);
        await store.AppendAsync([Bounce("u", "a@example.com", 6)], CancellationToken.None);
        var second = await store.QueryAsync(new EventQuery { Event = "bounce", Limit = 2, After = first.Next }, CancellationToken.None);

        Assert.Equal([0L, 2L], first.Events.Select(TimestampOf));
        Assert.Equal([4L, 6L], second.Events.Select(TimestampOf));
        Assert.Null(second.Next);
    }

    [Fact]
    public async Task A_tampered_cursor_is_a_clear_argument_error()
    {
        await using var store = await OpenAsync();
        await store.AppendAsync([.. Enumerable.Range(0, 3).Select(i => Delivered("u", "a@example.com", i))], CancellationToken.None);
        var next = (await store.QueryAsync(new EventQuery { Limit = 1 }, CancellationToken.None)).Next!;
        var tampered = (next[0] == 'A' ? "B" : "A") + next[1..];

        var error = await Assert.ThrowsAsync<ArgumentException>(() => store.QueryAsync(new EventQuery { After = tampered }, CancellationToken.None));

        Assert.Equal("after", error.ParamName);
        Assert.Contains("cursor", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(1001)]
    public async Task A_limit_out_of_range_is_an_argument_error(int limit)
    {
        await using var store = await OpenAsync();

        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.QueryAsync(new EventQuery { Limit = limit }, CancellationToken.None));

        Assert.Equal("Limit", error.ParamName);
    }

    [Fact]
    public async Task Since_after_until_is_an_argument_error()
    {
        await using var store = await OpenAsync();

        await Assert.ThrowsAsync<ArgumentException>(() => store.QueryAsync(new EventQuery { Since = At(2), Until = At(1) }, CancellationToken.None));
    }

    [Fact]
    public async Task The_limit_defaults_to_100()
    {
        await using var store = await OpenAsync();
        await store.AppendAsync([.. Enumerable.Range(0, 101).Select(i => Delivered("u", "a@example.com", i))], CancellationToken.None);

        var page = await store.QueryAsync(new EventQuery(), CancellationToken.None);

        Assert.Equal(100, page.Events.Count);
        Assert.NotNull(page.Next);
    }

    [Fact]
    public async Task Events_and_ids_survive_a_reopen_and_new_ids_follow_the_old()
    {
        long lastId;
        await using (var store = await OpenAsync())
        {
            await store.AppendAsync([Delivered("u1", "a@example.com", 1), Bounce("u1", "a@example.com", 2)], CancellationToken.None);
            lastId = (await store.QueryAsync(new EventQuery(), CancellationToken.None)).Events[^1].Id;
        }

        await using (var reopened = await OpenAsync())
        {
            await reopened.AppendAsync([Delivered("u2", "b@example.com", 3)], CancellationToken.None);
            var events = (await reopened.QueryAsync(new EventQuery(), CancellationToken.None)).Events;

            Assert.Equal([1L, 2L, 3L], events.Select(TimestampOf));
            Assert.Equal(lastId, events[1].Id);
            Assert.True(events[2].Id > lastId);
            Assert.Equal([2L], (await reopened.QueryAsync(new EventQuery { Email = "a@example.com", Event = "bounce" }, CancellationToken.None)).Events.Select(TimestampOf));
        }
    }

    [Fact]
    public async Task Purge_removes_only_events_older_than_the_cutoff_chunk_by_chunk()
    {
        await using var store = await OpenAsync(purgeChunk: 7);
        // Old and new interleaved, so a chunk that stopped at the first new event would leave old ones behind.
        await store.AppendAsync([.. Enumerable.Range(0, 60).Select(i => Delivered("u" + N(i), "a@example.com", i % 3 == 0 ? 5_000 + i : i))], CancellationToken.None);

        var deleted = await store.PurgeOlderThanAsync(At(5_000), CancellationToken.None);

        Assert.Equal(40, deleted);
        var left = await AllAsync(store, new EventQuery());
        Assert.Equal(Enumerable.Range(0, 60).Where(i => i % 3 == 0).Select(i => 5_000L + i), left.Select(TimestampOf));
        Assert.Equal(0, await store.PurgeOlderThanAsync(At(5_000), CancellationToken.None));
    }

    [Fact]
    public async Task The_cutoff_itself_is_kept()
    {
        await using var store = await OpenAsync();
        await store.AppendAsync([Delivered("u", "a@example.com", 99), Delivered("u", "a@example.com", 100)], CancellationToken.None);

        Assert.Equal(1, await store.PurgeOlderThanAsync(At(100), CancellationToken.None));
        Assert.Equal([100L], (await store.QueryAsync(new EventQuery(), CancellationToken.None)).Events.Select(TimestampOf));
    }

    [Fact]
    public async Task Ids_are_not_reused_after_everything_was_purged()
    {
        await using var store = await OpenAsync();
        await store.AppendAsync([Delivered("u", "a@example.com", 1), Delivered("u", "a@example.com", 2)], CancellationToken.None);
        var cursor = (await store.QueryAsync(new EventQuery(), CancellationToken.None)).Events[^1].Cursor;
        await store.PurgeOlderThanAsync(At(10), CancellationToken.None);

        await store.AppendAsync([Delivered("u", "a@example.com", 20)], CancellationToken.None);

        // A client following with the cursor it held before the purge must still see the new event.
        Assert.Equal([20L], (await store.QueryAsync(new EventQuery { After = cursor }, CancellationToken.None)).Events.Select(TimestampOf));
    }

    [Fact]
    public async Task Eight_concurrent_appenders_of_1000_events_all_land_once()
    {
        await using var store = await OpenAsync();

        await Task.WhenAll(Enumerable.Range(0, 8).Select(writer => Task.Run(async () =>
        {
            // Batches of varied size, so the writer groups callers' batches of different lengths.
            for (var sent = 0; sent < 1000;)
            {
                var size = Math.Min(1 + (sent % 37), 1000 - sent);
                await store.AppendAsync([.. Enumerable.Range(sent, size).Select(i => Delivered("w" + N(writer), "e" + N(i) + "@example.com", i))], CancellationToken.None);
                sent += size;
            }
        })));

        var all = await AllAsync(store, new EventQuery());
        Assert.Equal(8000, all.Count);
        for (var writer = 0; writer < 8; writer++)
        {
            // Each writer's events in its own order: a caller's batch is never split or reordered.
            Assert.Equal(Enumerable.Range(0, 1000).Select(i => (long)i), all.Where(e => UuidOf(e) == "w" + N(writer)).Select(TimestampOf));
        }
    }

    [Fact]
    public async Task An_empty_batch_is_a_no_op_and_a_null_event_is_refused_before_it_reaches_the_writer()
    {
        await using var store = await OpenAsync();

        await store.AppendAsync([], CancellationToken.None);
        await Assert.ThrowsAsync<ArgumentException>(() => store.AppendAsync([Delivered("u", "a@example.com", 1), null!], CancellationToken.None));
        await store.AppendAsync([Delivered("u", "a@example.com", 2)], CancellationToken.None);

        Assert.Equal([2L], (await store.QueryAsync(new EventQuery(), CancellationToken.None)).Events.Select(TimestampOf));
    }

    [Fact]
    public async Task An_append_already_cancelled_writes_nothing()
    {
        await using var store = await OpenAsync();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.AppendAsync([Delivered("u", "a@example.com", 1)], cancelled.Token));

        Assert.Empty((await store.QueryAsync(new EventQuery(), CancellationToken.None)).Events);
    }

    [Fact]
    public async Task After_dispose_appends_and_queries_are_refused()
    {
        var store = await OpenAsync();
        await store.DisposeAsync();
        await store.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.AppendAsync([Delivered("u", "a@example.com", 1)], CancellationToken.None));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.QueryAsync(new EventQuery(), CancellationToken.None));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.PurgeOlderThanAsync(At(1), CancellationToken.None));
    }

    protected static DateTimeOffset At(long seconds) => Epoch.AddSeconds(seconds);

    protected static long TimestampOf(StoredEvent stored)
    {
        using var json = JsonDocument.Parse(stored.Json);
        return json.RootElement.GetProperty("timestamp").GetInt64();
    }

    protected static string? UuidOf(StoredEvent stored)
    {
        using var json = JsonDocument.Parse(stored.Json);
        return json.RootElement.GetProperty("uuid").GetString();
    }

    protected static async Task<List<long>> TimestampsAsync(IEventStore store, EventQuery query) =>
        [.. (await AllAsync(store, query)).Select(TimestampOf)];
}
