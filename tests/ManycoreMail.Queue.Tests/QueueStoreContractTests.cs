using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.Queue.Tests;

/// <summary>
/// What every <see cref="IQueueStore"/> must do. A backend runs it by deriving a class that says how to
/// open (and reopen) a store; each test uses fresh queue names, so backends may share a server.
/// Time is a <see cref="FakeTimeProvider"/>: nothing here waits for the real clock to pass.
/// </summary>
public abstract class QueueStoreContractTests : IAsyncLifetime
{
    /// <summary>Longest a test waits in real time for something that should happen at once.</summary>
    protected static readonly TimeSpan RealTimeout = TimeSpan.FromSeconds(20);

    protected static readonly TimeSpan LongLease = TimeSpan.FromMinutes(10);

    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));

    protected IQueueStore Store { get; private set; } = null!;

    /// <summary>A new, empty store using <paramref name="time"/> for "now" and for its timers.</summary>
    protected abstract Task<IQueueStore> CreateStoreAsync(TimeProvider time);

    /// <summary>Disposes <paramref name="store"/> and opens a new store over the same data.</summary>
    protected abstract Task<IQueueStore> ReopenStoreAsync(IQueueStore store, TimeProvider time);

    public virtual async Task InitializeAsync() => Store = await CreateStoreAsync(Time);

    public virtual async Task DisposeAsync()
    {
        if (Store is not null)
        {
            await Store.DisposeAsync();
        }
    }

    [Fact]
    public async Task Enqueued_item_is_leased_with_envelope_and_body_intact()
    {
        var queue = NewQueue();
        var envelope = new MessageEnvelope
        {
            Uuid = "8f14e45f-ceea-467f-a9a6-1f5d2f0bd7c1",
            Campaign = "spring-sale",
            Tenant = "acme",
            ReturnPath = "bounces+x@return.example",
            Recipients = ["a@example.com", "b@example.org", "Ünïcode@exämple.de"],
        };
        var body = Enumerable.Range(0, 256).Select(i => (byte)i).Concat("\r\n.\r\n"u8.ToArray()).ToArray();

        await Store.EnqueueAsync(queue, new QueueItem(envelope, body), CancellationToken.None);
        var leased = await Store.LeaseAsync(queue, 10, TimeSpan.FromMinutes(1), CancellationToken.None);

        var item = Assert.Single(leased);
        Assert.Equal(queue, item.Queue);
        Assert.Equal(envelope.Uuid, item.Envelope.Uuid);
        Assert.Equal(envelope.Campaign, item.Envelope.Campaign);
        Assert.Equal(envelope.Tenant, item.Envelope.Tenant);
        Assert.Equal(envelope.ReturnPath, item.Envelope.ReturnPath);
        Assert.Equal(envelope.Recipients, item.Envelope.Recipients);
        Assert.Equal(body, item.Body.ToArray());
        Assert.Equal(0, item.Attempts);
        Assert.Equal(Time.GetUtcNow(), item.CreatedAt);
        Assert.Equal(Time.GetUtcNow() + TimeSpan.FromMinutes(1), item.LeaseExpiresAt);
    }

    [Fact]
    public async Task The_callers_buffer_may_be_overwritten_once_enqueue_or_commit_returns()
    {
        var queue = NewQueue();
        var buffer = new byte[100 * 1024];
        var expected = new byte[2][];
        for (var i = 0; i < 2; i++)
        {
            Random.Shared.NextBytes(buffer);
            expected[i] = buffer.ToArray();
            var item = new QueueItem(new MessageEnvelope { Uuid = $"reuse-{i}" }, buffer);
            if (i == 0)
            {
                await Store.EnqueueAsync(queue, item, CancellationToken.None);
            }
            else
            {
                var transaction = new QueueTransaction();
                transaction.Enqueue(queue, item);
                await Store.CommitAsync(transaction, CancellationToken.None);
            }
            // What a pooled buffer's next user would do.
            buffer.AsSpan().Fill(0xEE);
        }

        var leased = await Store.LeaseAsync(queue, 10, TimeSpan.FromMinutes(1), CancellationToken.None);

        Assert.Equal(2, leased.Count);
        foreach (var item in leased)
        {
            Assert.Equal(expected[item.Envelope.Uuid == "reuse-0" ? 0 : 1], item.Body.ToArray());
        }
    }

    [Fact]
    public async Task Empty_envelope_and_empty_body_round_trip()
    {
        var queue = NewQueue();
        await Store.EnqueueAsync(queue, new QueueItem(MessageEnvelope.Empty, ReadOnlyMemory<byte>.Empty), CancellationToken.None);

        var item = Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));
        Assert.True(item.Body.IsEmpty);
        Assert.Null(item.Envelope.Uuid);
        Assert.Null(item.Envelope.ReturnPath);
        Assert.Empty(item.Envelope.Recipients);
    }

    [Fact]
    public async Task Items_are_leased_oldest_first_and_max_is_respected()
    {
        var queue = NewQueue();
        for (var i = 0; i < 5; i++)
        {
            await Store.EnqueueAsync(queue, Item($"m{i}"), CancellationToken.None);
        }

        var first = await Store.LeaseAsync(queue, 3, LongLease, CancellationToken.None);
        var second = await Store.LeaseAsync(queue, 3, LongLease, CancellationToken.None);
        var third = await Store.LeaseAsync(queue, 3, LongLease, CancellationToken.None);

        Assert.Equal(["m0", "m1", "m2"], first.Select(Text));
        Assert.Equal(["m3", "m4"], second.Select(Text));
        Assert.Empty(third);
    }

    [Fact]
    public async Task Leasing_an_empty_or_unknown_queue_returns_nothing()
    {
        Assert.Empty(await Store.LeaseAsync(NewQueue(), 10, LongLease, CancellationToken.None));
        Assert.Equal(0, await Store.CountAsync(NewQueue(), CancellationToken.None));
    }

    [Fact]
    public async Task Queues_are_separate()
    {
        var a = NewQueue("a");
        var b = NewQueue("b");
        await Store.EnqueueAsync(a, Item("for a"), CancellationToken.None);

        Assert.Empty(await Store.LeaseAsync(b, 10, LongLease, CancellationToken.None));
        Assert.Equal("for a", Text(Assert.Single(await Store.LeaseAsync(a, 10, LongLease, CancellationToken.None))));
    }

    [Fact]
    public async Task Leased_item_is_invisible_until_its_lease_expires_then_leased_again_with_a_new_token()
    {
        var queue = NewQueue();
        await Store.EnqueueAsync(queue, Item("x"), CancellationToken.None);
        var first = Assert.Single(await Store.LeaseAsync(queue, 10, TimeSpan.FromSeconds(30), CancellationToken.None));

        Assert.Empty(await Store.LeaseAsync(queue, 10, TimeSpan.FromSeconds(30), CancellationToken.None));
        Time.Advance(TimeSpan.FromSeconds(29));
        Assert.Empty(await Store.LeaseAsync(queue, 10, TimeSpan.FromSeconds(30), CancellationToken.None));

        Time.Advance(TimeSpan.FromSeconds(2));
        var second = Assert.Single(await Store.LeaseAsync(queue, 10, TimeSpan.FromSeconds(30), CancellationToken.None));

        Assert.Equal(first.Id, second.Id);
        Assert.NotEqual(first.LeaseToken, second.LeaseToken);
        Assert.Equal(0, second.Attempts);
        Assert.Equal("x", Text(second));

        // The first holder lost the item; the second one holds it.
        await Assert.ThrowsAsync<LeaseLostException>(() => Store.CommitAsync(new QueueTransaction().Complete(first), CancellationToken.None).AsTask());
        await Store.CommitAsync(new QueueTransaction().Complete(second), CancellationToken.None);
        Assert.Equal(0, await Store.CountAsync(queue, CancellationToken.None));
    }

    [Fact]
    public async Task A_renewed_lease_is_not_handed_out_past_its_first_expiry_and_settles()
    {
        var queue = NewQueue();
        await Store.EnqueueAsync(queue, Item("x"), CancellationToken.None);
        await Store.EnqueueAsync(queue, Item("y"), CancellationToken.None);
        var held = await Store.LeaseAsync(queue, 10, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.Equal(2, held.Count);

        Time.Advance(TimeSpan.FromSeconds(20));
        Assert.Empty(await Store.RenewAsync(held, TimeSpan.FromSeconds(30), CancellationToken.None));
        Time.Advance(TimeSpan.FromSeconds(20));
        // 40 s after the lease, 10 s past its first expiry: still held.
        Assert.Empty(await Store.LeaseAsync(queue, 10, TimeSpan.FromSeconds(30), CancellationToken.None));

        await Store.CommitAsync(new QueueTransaction().Complete(held[0]).Retry(held[1], Time.GetUtcNow()), CancellationToken.None);
        Assert.Equal("y", Text(Assert.Single(await Store.LeaseAsync(queue, 10, TimeSpan.FromSeconds(30), CancellationToken.None))));
    }

    [Fact]
    public async Task A_renewed_lease_still_expires_when_renewals_stop()
    {
        var queue = NewQueue();
        await Store.EnqueueAsync(queue, Item("x"), CancellationToken.None);
        var first = Assert.Single(await Store.LeaseAsync(queue, 1, TimeSpan.FromSeconds(30), CancellationToken.None));
        Time.Advance(TimeSpan.FromSeconds(20));
        Assert.Empty(await Store.RenewAsync([first], TimeSpan.FromSeconds(30), CancellationToken.None));

        Time.Advance(TimeSpan.FromSeconds(29));
        Assert.Empty(await Store.LeaseAsync(queue, 1, TimeSpan.FromSeconds(30), CancellationToken.None));
        Time.Advance(TimeSpan.FromSeconds(2));
        var second = Assert.Single(await Store.LeaseAsync(queue, 1, TimeSpan.FromSeconds(30), CancellationToken.None));
        Assert.Equal(first.Id, second.Id);
    }

    [Fact]
    public async Task Renewing_a_lost_or_settled_lease_reports_it_lost_and_renews_the_others()
    {
        var queue = NewQueue();
        var other = NewQueue();
        await Store.EnqueueAsync(queue, Item("lost"), CancellationToken.None);
        await Store.EnqueueAsync(queue, Item("settled"), CancellationToken.None);
        await Store.EnqueueAsync(other, Item("kept"), CancellationToken.None);
        var stale = Assert.Single(await Store.LeaseAsync(queue, 1, TimeSpan.FromSeconds(10), CancellationToken.None));
        var kept = Assert.Single(await Store.LeaseAsync(other, 1, TimeSpan.FromSeconds(60), CancellationToken.None));
        Time.Advance(TimeSpan.FromSeconds(11));
        // The stale lease expired and the item went to another holder, who settles it; so does "settled" after a lease.
        var both = await Store.LeaseAsync(queue, 10, TimeSpan.FromSeconds(30), CancellationToken.None);
        var current = Assert.Single(both, i => i.Id == stale.Id);
        var settled = Assert.Single(both, i => i.Id != stale.Id);
        await Store.CommitAsync(new QueueTransaction().Complete(settled), CancellationToken.None);

        var lost = await Store.RenewAsync([stale, settled, kept], TimeSpan.FromMinutes(5), CancellationToken.None);

        Assert.Equal(new[] { stale, settled }, lost);
        await Assert.ThrowsAsync<LeaseLostException>(() => Store.CommitAsync(new QueueTransaction().Complete(stale), CancellationToken.None).AsTask());
        // The current holder's lease was not touched by the stale one's renewal.
        Time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(current.Id, Assert.Single(await Store.LeaseAsync(queue, 10, TimeSpan.FromSeconds(30), CancellationToken.None)).Id);
        // The kept lease (60 s, renewed for 5 min at 11 s) still holds at 42 s past its first expiry.
        Time.Advance(TimeSpan.FromSeconds(60));
        Assert.Empty(await Store.LeaseAsync(other, 10, TimeSpan.FromSeconds(30), CancellationToken.None));
        await Store.CommitAsync(new QueueTransaction().Complete(kept), CancellationToken.None);
    }

    [Fact]
    public async Task Complete_removes_the_item_for_good()
    {
        var queue = NewQueue();
        await Store.EnqueueAsync(queue, Item("x"), CancellationToken.None);
        await Store.EnqueueAsync(queue, Item("y"), CancellationToken.None);
        var item = (await Store.LeaseAsync(queue, 1, TimeSpan.FromSeconds(30), CancellationToken.None))[0];

        await Store.CommitAsync(new QueueTransaction().Complete(item), CancellationToken.None);

        Assert.Equal(1, await Store.CountAsync(queue, CancellationToken.None));
        Time.Advance(TimeSpan.FromHours(1));
        var rest = await Store.LeaseAsync(queue, 10, LongLease, CancellationToken.None);
        Assert.Equal(["y"], rest.Select(Text));
    }

    [Fact]
    public async Task Settling_with_a_stale_token_throws_and_applies_nothing_of_that_transaction()
    {
        var source = NewQueue("src");
        var target = NewQueue("dst");
        await Store.EnqueueAsync(source, Item("x"), CancellationToken.None);
        var stale = Assert.Single(await Store.LeaseAsync(source, 1, TimeSpan.FromSeconds(10), CancellationToken.None));
        Time.Advance(TimeSpan.FromSeconds(11));
        var current = Assert.Single(await Store.LeaseAsync(source, 1, LongLease, CancellationToken.None));

        // The enqueue comes first so that a store applying operations one by one would have to undo it.
        var transaction = new QueueTransaction()
            .Enqueue(target, Item("handed over"))
            .Complete(stale);
        await Assert.ThrowsAsync<LeaseLostException>(() => Store.CommitAsync(transaction, CancellationToken.None).AsTask());

        Assert.Equal(0, await Store.CountAsync(target, CancellationToken.None));
        Assert.Equal(1, await Store.CountAsync(source, CancellationToken.None));
        // The current holder is unaffected.
        await Store.CommitAsync(new QueueTransaction().Complete(current), CancellationToken.None);
        Assert.Equal(0, await Store.CountAsync(source, CancellationToken.None));
    }

    [Fact]
    public async Task Settling_each_kind_with_a_stale_token_throws()
    {
        var queue = NewQueue();
        await Store.EnqueueAsync(queue, Item("x"), CancellationToken.None);
        var stale = Assert.Single(await Store.LeaseAsync(queue, 1, TimeSpan.FromSeconds(10), CancellationToken.None));
        Time.Advance(TimeSpan.FromSeconds(11));
        var current = Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));

        QueueTransaction[] attempts =
        [
            new QueueTransaction().Complete(stale),
            new QueueTransaction().Retry(stale, Time.GetUtcNow()),
            new QueueTransaction().Release(stale),
            new QueueTransaction().DeadLetter(stale, "stale"),
        ];
        foreach (var attempt in attempts)
        {
            await Assert.ThrowsAsync<LeaseLostException>(() => Store.CommitAsync(attempt, CancellationToken.None).AsTask());
        }

        // Nothing happened to the item: still leased by the current holder, with no extra attempt.
        Assert.Empty(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));
        await Store.CommitAsync(new QueueTransaction().Release(current), CancellationToken.None);
        var again = Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));
        Assert.Equal(0, again.Attempts);
    }

    [Fact]
    public async Task Settling_the_same_item_twice_in_one_transaction_fails_as_a_whole()
    {
        var queue = NewQueue();
        await Store.EnqueueAsync(queue, Item("x"), CancellationToken.None);
        var item = Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));

        var transaction = new QueueTransaction().Complete(item).Retry(item, Time.GetUtcNow());
        await Assert.ThrowsAsync<LeaseLostException>(() => Store.CommitAsync(transaction, CancellationToken.None).AsTask());

        Assert.Equal(1, await Store.CountAsync(queue, CancellationToken.None));
        await Store.CommitAsync(new QueueTransaction().Complete(item), CancellationToken.None);
        Assert.Equal(0, await Store.CountAsync(queue, CancellationToken.None));
    }

    [Fact]
    public async Task Complete_here_and_enqueue_there_is_one_hand_off()
    {
        var ingress = NewQueue("ingress");
        var outbound = NewQueue("outbound");
        await Store.EnqueueAsync(ingress, Item("raw", new MessageEnvelope { Uuid = "u1" }), CancellationToken.None);
        var item = Assert.Single(await Store.LeaseAsync(ingress, 1, LongLease, CancellationToken.None));

        var signed = new QueueItem(item.Envelope with { Recipients = ["r@example.com"] }, Encoding.UTF8.GetBytes("signed"));
        await Store.CommitAsync(new QueueTransaction().Complete(item).Enqueue(outbound, signed), CancellationToken.None);

        Assert.Equal(0, await Store.CountAsync(ingress, CancellationToken.None));
        Assert.Equal(1, await Store.CountAsync(outbound, CancellationToken.None));
        var moved = Assert.Single(await Store.LeaseAsync(outbound, 1, LongLease, CancellationToken.None));
        Assert.Equal("signed", Text(moved));
        Assert.Equal("u1", moved.Envelope.Uuid);
        Assert.Equal(["r@example.com"], moved.Envelope.Recipients);
        Assert.NotEqual(item.Id, moved.Id);
    }

    [Fact]
    public async Task Transaction_may_enqueue_into_several_queues_with_a_schedule()
    {
        var now = NewQueue("now");
        var later = NewQueue("later");
        var transaction = new QueueTransaction()
            .Enqueue(now, Item("1"))
            .Enqueue(later, Item("2"), Time.GetUtcNow() + TimeSpan.FromMinutes(5))
            .Enqueue(now, Item("3"));

        await Store.CommitAsync(transaction, CancellationToken.None);

        Assert.Equal(["1", "3"], (await Store.LeaseAsync(now, 10, LongLease, CancellationToken.None)).Select(Text));
        Assert.Empty(await Store.LeaseAsync(later, 10, LongLease, CancellationToken.None));
        Assert.Equal(1, await Store.CountAsync(later, CancellationToken.None));
        Time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal("2", Text(Assert.Single(await Store.LeaseAsync(later, 10, LongLease, CancellationToken.None))));
    }

    [Fact]
    public async Task Empty_transaction_commits_without_effect()
    {
        await Store.CommitAsync(new QueueTransaction(), CancellationToken.None);
        Assert.Equal(0, await Store.CountAsync(NewQueue(), CancellationToken.None));
    }

    [Fact]
    public async Task Retry_counts_the_attempt_and_hides_the_item_until_it_is_due()
    {
        var queue = NewQueue();
        await Store.EnqueueAsync(queue, Item("x", new MessageEnvelope { Uuid = "u" }), CancellationToken.None);
        var first = Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));

        await Store.CommitAsync(new QueueTransaction().Retry(first, Time.GetUtcNow() + TimeSpan.FromMinutes(10)), CancellationToken.None);

        Assert.Equal(1, await Store.CountAsync(queue, CancellationToken.None));
        Time.Advance(TimeSpan.FromMinutes(9));
        Assert.Empty(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));
        Time.Advance(TimeSpan.FromMinutes(1));
        var second = Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));
        Assert.Equal(first.Id, second.Id);
        Assert.Equal(1, second.Attempts);
        Assert.Equal("u", second.Envelope.Uuid);
        Assert.Equal("x", Text(second));
        Assert.Equal(first.CreatedAt, second.CreatedAt);

        await Store.CommitAsync(new QueueTransaction().Retry(second, Time.GetUtcNow()), CancellationToken.None);
        Assert.Equal(2, Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None)).Attempts);
    }

    [Fact]
    public async Task The_ready_count_leaves_out_leased_items_and_retries_not_yet_due()
    {
        var queue = NewQueue();
        for (var i = 0; i < 4; i++)
        {
            await Store.EnqueueAsync(queue, Item($"m{i}"), CancellationToken.None);
        }
        var leased = await Store.LeaseAsync(queue, 2, LongLease, CancellationToken.None);
        await Store.CommitAsync(new QueueTransaction().Retry(leased[1], Time.GetUtcNow().AddMinutes(5)), CancellationToken.None);

        Assert.Equal(4, await Store.CountAsync(queue, CancellationToken.None));
        Assert.Equal(2, await Store.ReadyCountAsync(queue, CancellationToken.None));
        Assert.Equal(0, await Store.ReadyCountAsync(NewQueue(), CancellationToken.None));
    }

    [Fact]
    public async Task Retry_with_a_new_envelope_replaces_it_and_keeps_the_body()
    {
        var queue = NewQueue();
        var envelope = new MessageEnvelope { Uuid = "u", ReturnPath = "rp@example.com", Recipients = ["a@x.test", "b@x.test", "c@x.test"] };
        await Store.EnqueueAsync(queue, Item("body", envelope), CancellationToken.None);
        var item = Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));

        var remaining = item.Envelope with { Recipients = ["c@x.test"] };
        await Store.CommitAsync(new QueueTransaction().Retry(item, Time.GetUtcNow(), remaining), CancellationToken.None);

        var again = Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));
        Assert.Equal(["c@x.test"], again.Envelope.Recipients);
        Assert.Equal("rp@example.com", again.Envelope.ReturnPath);
        Assert.Equal("body", Text(again));
        Assert.Equal(1, again.Attempts);
    }

    [Fact]
    public async Task Release_makes_the_item_due_now_without_counting_an_attempt()
    {
        var queue = NewQueue();
        await Store.EnqueueAsync(queue, Item("x"), CancellationToken.None);
        var first = Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));

        await Store.CommitAsync(new QueueTransaction().Release(first), CancellationToken.None);

        var second = Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));
        Assert.Equal(first.Id, second.Id);
        Assert.Equal(0, second.Attempts);
        Assert.NotEqual(first.LeaseToken, second.LeaseToken);
        await Assert.ThrowsAsync<LeaseLostException>(() => Store.CommitAsync(new QueueTransaction().Complete(first), CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task Forward_hands_on_the_new_bytes_followed_by_the_source_from_the_offset()
    {
        var ingress = NewQueue("ingress");
        var outbound = NewQueue("outbound");
        var tail = Enumerable.Range(0, 70_000).Select(i => (byte)(i * 7)).ToArray();  // every byte value, NULs too
        byte[] submitted = [.. "X-Uuid: u1\r\nTo: r@x.test\r\n\r\n"u8, .. tail];
        await Store.EnqueueAsync(ingress, new QueueItem(new MessageEnvelope { Uuid = "u1" }, submitted), CancellationToken.None);
        var source = Assert.Single(await Store.LeaseAsync(ingress, 1, LongLease, CancellationToken.None));

        var headers = "DKIM-Signature: x\r\nTo: r@x.test\r\n\r\n"u8.ToArray();
        var envelope = new MessageEnvelope { Uuid = "u1", ReturnPath = "b@rp.test", Recipients = ["r@x.test"] };
        await Store.CommitAsync(new QueueTransaction().Forward(source, outbound, envelope, headers, submitted.Length - tail.Length), CancellationToken.None);

        Assert.Equal(0, await Store.CountAsync(ingress, CancellationToken.None));
        var forwarded = Assert.Single(await Store.LeaseAsync(outbound, 1, LongLease, CancellationToken.None));
        byte[] expected = [.. headers, .. tail];
        Assert.Equal(expected, forwarded.Body.ToArray());
        Assert.Equal(envelope.Recipients, forwarded.Envelope.Recipients);
        Assert.Equal("b@rp.test", forwarded.Envelope.ReturnPath);

        // A retry keeps the bytes; forwarding the forwarded item again cuts from its own bytes.
        await Store.CommitAsync(new QueueTransaction().Retry(forwarded, Time.GetUtcNow()), CancellationToken.None);
        var retried = Assert.Single(await Store.LeaseAsync(outbound, 1, LongLease, CancellationToken.None));
        Assert.Equal(expected, retried.Body.ToArray());
        var final = NewQueue("final");
        await Store.CommitAsync(new QueueTransaction().Forward(retried, final, envelope, "A: b\r\n"u8.ToArray(), headers.Length), CancellationToken.None);
        var last = Assert.Single(await Store.LeaseAsync(final, 1, LongLease, CancellationToken.None));
        Assert.Equal([.. "A: b\r\n"u8, .. tail], last.Body.ToArray());

        await Store.CommitAsync(new QueueTransaction().Complete(last), CancellationToken.None);
        Assert.Equal(0, await Store.CountAsync(outbound, CancellationToken.None) + await Store.CountAsync(final, CancellationToken.None));
    }

    [Fact]
    public async Task A_forward_from_a_lost_lease_applies_nothing()
    {
        var ingress = NewQueue("ingress");
        var outbound = NewQueue("outbound");
        await Store.EnqueueAsync(ingress, Item("H: 1\r\n\r\nbody"), CancellationToken.None);
        var stale = Assert.Single(await Store.LeaseAsync(ingress, 1, TimeSpan.FromSeconds(30), CancellationToken.None));
        Time.Advance(TimeSpan.FromMinutes(1));
        var current = Assert.Single(await Store.LeaseAsync(ingress, 1, LongLease, CancellationToken.None));

        var forward = new QueueTransaction().Forward(stale, outbound, MessageEnvelope.Empty, "N: 2\r\n\r\n"u8.ToArray(), 8);
        await Assert.ThrowsAsync<LeaseLostException>(() => Store.CommitAsync(forward, CancellationToken.None).AsTask());

        Assert.Equal(0, await Store.CountAsync(outbound, CancellationToken.None));
        await Store.CommitAsync(new QueueTransaction().Forward(current, outbound, MessageEnvelope.Empty, "N: 2\r\n\r\n"u8.ToArray(), 8), CancellationToken.None);
        Assert.Equal("N: 2\r\n\r\nbody", Text(Assert.Single(await Store.LeaseAsync(outbound, 1, LongLease, CancellationToken.None))));
    }

    [Fact]
    public async Task A_lease_stops_once_its_bodies_reach_the_byte_limit_and_takes_at_least_one()
    {
        var queue = NewQueue();
        for (var i = 0; i < 5; i++)
        {
            await Store.EnqueueAsync(queue, Item(new string((char)('a' + i), 4_000)), CancellationToken.None);
        }

        // 4,000 + 4,000 + 4,000 reaches 10,000 with the third item.
        var first = await Store.LeaseAsync(queue, 10, 10_000, LongLease, CancellationToken.None);
        Assert.Equal(["a", "b", "c"], first.Select(i => Text(i)[..1]));
        var overLimit = await Store.LeaseAsync(queue, 10, 1, LongLease, CancellationToken.None);
        Assert.Equal(["d"], overLimit.Select(i => Text(i)[..1]));
        Assert.Equal(["e"], (await Store.LeaseAsync(queue, 10, long.MaxValue, LongLease, CancellationToken.None)).Select(i => Text(i)[..1]));
    }

    [Fact]
    public async Task Dead_letter_takes_the_item_off_the_queue()
    {
        var queue = NewQueue();
        await Store.EnqueueAsync(queue, Item("poison"), CancellationToken.None);
        var item = Assert.Single(await Store.LeaseAsync(queue, 1, TimeSpan.FromSeconds(30), CancellationToken.None));

        await Store.CommitAsync(new QueueTransaction().DeadLetter(item, "550 5.6.0 malformed"), CancellationToken.None);

        Assert.Equal(0, await Store.CountAsync(queue, CancellationToken.None));
        Time.Advance(TimeSpan.FromHours(1));
        Assert.Empty(await Store.LeaseAsync(queue, 10, LongLease, CancellationToken.None));
    }

    [Fact]
    public async Task Replayed_dead_letters_are_back_on_their_queue_with_envelope_and_body_and_attempts_reset()
    {
        var queue = NewQueue();
        var envelope = new MessageEnvelope { Uuid = "u1", Recipients = ["a@example.com"] };
        await Store.EnqueueAsync(queue, Item("first", envelope), CancellationToken.None);
        await Store.EnqueueAsync(queue, Item("second"), CancellationToken.None);
        await Store.EnqueueAsync(queue, Item("third"), CancellationToken.None);
        var leased = await Store.LeaseAsync(queue, 3, LongLease, CancellationToken.None);
        await Store.CommitAsync(new QueueTransaction().Retry(leased[0], Time.GetUtcNow()), CancellationToken.None);
        var retried = Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));
        await Store.CommitAsync(new QueueTransaction().DeadLetter(retried, "bad").DeadLetter(leased[1], "bad").Complete(leased[2]), CancellationToken.None);
        var dead = (IDeadLetterStore)Store;

        var replayed = await dead.ReplayDeadLettersAsync(queue, 1, CancellationToken.None);

        Assert.Equal(1, replayed);
        Assert.Equal(["second"], (await dead.ReadDeadLettersAsync(queue, 10, CancellationToken.None)).Select(d => Encoding.UTF8.GetString(d.Body.Span)));
        var back = Assert.Single(await Store.LeaseAsync(queue, 10, LongLease, CancellationToken.None));
        Assert.Equal("first", Text(back));
        Assert.Equal("u1", back.Envelope.Uuid);
        Assert.Equal(["a@example.com"], back.Envelope.Recipients);
        Assert.Equal(0, back.Attempts);
        Assert.Equal(1, await dead.ReplayDeadLettersAsync(queue, 10, CancellationToken.None));
        Assert.Empty(await dead.ReadDeadLettersAsync(queue, 10, CancellationToken.None));
        Assert.Equal(0, await dead.ReplayDeadLettersAsync(queue, 10, CancellationToken.None));
        Assert.Equal(2, await Store.CountAsync(queue, CancellationToken.None));
    }

    [Fact]
    public async Task Count_includes_due_scheduled_and_leased_items()
    {
        var queue = NewQueue();
        await Store.EnqueueAsync(queue, Item("due 1"), CancellationToken.None);
        await Store.EnqueueAsync(queue, Item("due 2"), CancellationToken.None);
        await Store.CommitAsync(new QueueTransaction().Enqueue(queue, Item("scheduled"), Time.GetUtcNow() + TimeSpan.FromHours(1)), CancellationToken.None);
        Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));

        Assert.Equal(3, await Store.CountAsync(queue, CancellationToken.None));
        Assert.Equal(0, await Store.CountAsync(NewQueue(), CancellationToken.None));
    }

    [Fact]
    public async Task Wait_returns_at_once_when_items_are_due()
    {
        var queue = NewQueue();
        await Store.EnqueueAsync(queue, Item("x"), CancellationToken.None);

        await Store.WaitForItemsAsync(queue, TimeSpan.FromHours(1), CancellationToken.None).AsTask().WaitAsync(RealTimeout);
    }

    [Fact]
    public async Task Wait_wakes_on_enqueue()
    {
        var queue = NewQueue();
        var wait = Store.WaitForItemsAsync(queue, TimeSpan.FromHours(1), CancellationToken.None).AsTask();
        Assert.False(wait.IsCompleted);

        await Store.EnqueueAsync(queue, Item("x"), CancellationToken.None);

        await wait.WaitAsync(RealTimeout);
        Assert.Single(await Store.LeaseAsync(queue, 10, LongLease, CancellationToken.None));
    }

    [Fact]
    public async Task Wait_wakes_on_a_transaction_enqueue()
    {
        var queue = NewQueue();
        var wait = Store.WaitForItemsAsync(queue, TimeSpan.FromHours(1), CancellationToken.None).AsTask();
        Assert.False(wait.IsCompleted);

        await Store.CommitAsync(new QueueTransaction().Enqueue(NewQueue(), Item("elsewhere")).Enqueue(queue, Item("x")), CancellationToken.None);

        await wait.WaitAsync(RealTimeout);
    }

    [Fact]
    public async Task Wait_wakes_when_a_retry_falls_due()
    {
        var queue = NewQueue();
        await Store.EnqueueAsync(queue, Item("x"), CancellationToken.None);
        var item = Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));
        await Store.CommitAsync(new QueueTransaction().Retry(item, Time.GetUtcNow() + TimeSpan.FromMinutes(2)), CancellationToken.None);

        var wait = Store.WaitForItemsAsync(queue, TimeSpan.FromHours(1), CancellationToken.None).AsTask();
        await AssertWakesAtAsync(wait, TimeSpan.FromMinutes(2));
        Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));
    }

    [Fact]
    public async Task Wait_wakes_when_a_lease_expires()
    {
        var queue = NewQueue();
        await Store.EnqueueAsync(queue, Item("x"), CancellationToken.None);
        Assert.Single(await Store.LeaseAsync(queue, 1, TimeSpan.FromMinutes(1), CancellationToken.None));

        var wait = Store.WaitForItemsAsync(queue, TimeSpan.FromHours(1), CancellationToken.None).AsTask();
        await AssertWakesAtAsync(wait, TimeSpan.FromMinutes(1));
        Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));
    }

    [Fact]
    public async Task Wait_returns_after_max_wait_when_nothing_comes()
    {
        var queue = NewQueue();
        var wait = Store.WaitForItemsAsync(queue, TimeSpan.FromSeconds(30), CancellationToken.None).AsTask();
        await AssertWakesAtAsync(wait, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Wait_is_cancellable()
    {
        var queue = NewQueue();
        using var cancel = new CancellationTokenSource();
        var wait = Store.WaitForItemsAsync(queue, TimeSpan.FromHours(1), cancel.Token).AsTask();
        Assert.False(wait.IsCompleted);

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(RealTimeout));
    }

    [Fact]
    public async Task Concurrent_enqueues_are_all_present_exactly_once()
    {
        const int writers = 50;
        const int perWriter = 40;
        var queue = NewQueue();

        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < perWriter; i++)
            {
                await Store.EnqueueAsync(queue, Item($"{w}:{i}"), CancellationToken.None);
            }
        }))).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(writers * perWriter, await Store.CountAsync(queue, CancellationToken.None));
        var seen = new List<string>();
        for (var round = 0; round < 100; round++)
        {
            var batch = await Store.LeaseAsync(queue, 100, LongLease, CancellationToken.None);
            if (batch.Count == 0)
            {
                break;
            }

            seen.AddRange(batch.Select(Text));
        }

        var expected = Enumerable.Range(0, writers).SelectMany(w => Enumerable.Range(0, perWriter).Select(i => $"{w}:{i}"));
        Assert.Equal(expected.Order(StringComparer.Ordinal), seen.Order(StringComparer.Ordinal));

        // Each writer's own items keep its order.
        foreach (var writer in seen.GroupBy(s => s.Split(':')[0]))
        {
            Assert.Equal(Enumerable.Range(0, perWriter), writer.Select(s => int.Parse(s.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture)));
        }
    }

    [Fact]
    public async Task Concurrent_leasers_never_get_the_same_item_twice()
    {
        const int items = 600;
        const int leasers = 20;
        var queue = NewQueue();
        await Task.WhenAll(Enumerable.Range(0, 10).Select(w => Task.Run(async () =>
        {
            for (var i = w; i < items; i += 10)
            {
                await Store.EnqueueAsync(queue, Item(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), CancellationToken.None);
            }
        })));

        var leased = new ConcurrentBag<LeasedItem>();
        await Task.WhenAll(Enumerable.Range(0, leasers).Select(_ => Task.Run(async () =>
        {
            for (var round = 0; round < items; round++)
            {
                var batch = await Store.LeaseAsync(queue, 7, LongLease, CancellationToken.None);
                if (batch.Count == 0)
                {
                    return;
                }

                foreach (var item in batch)
                {
                    leased.Add(item);
                }
            }
        }))).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(items, leased.Count);
        Assert.Equal(items, leased.Select(i => i.Id).Distinct().Count());
        Assert.Equal(items, leased.Select(Text).Distinct().Count());
    }

    [Fact]
    public async Task Concurrent_hand_offs_move_every_item_exactly_once()
    {
        const int items = 300;
        var source = NewQueue("src");
        var target = NewQueue("dst");
        for (var i = 0; i < items; i++)
        {
            await Store.EnqueueAsync(source, Item(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), CancellationToken.None);
        }

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (var round = 0; round < items; round++)
            {
                var batch = await Store.LeaseAsync(source, 5, LongLease, CancellationToken.None);
                if (batch.Count == 0)
                {
                    return;
                }

                foreach (var item in batch)
                {
                    await Store.CommitAsync(new QueueTransaction().Complete(item).Enqueue(target, new QueueItem(item.Envelope, item.Body)), CancellationToken.None);
                }
            }
        }))).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(0, await Store.CountAsync(source, CancellationToken.None));
        Assert.Equal(items, await Store.CountAsync(target, CancellationToken.None));
        var moved = await Store.LeaseAsync(target, items + 1, LongLease, CancellationToken.None);
        Assert.Equal(items, moved.Select(Text).Distinct().Count());
    }

    [Fact]
    public async Task Everything_committed_survives_a_reopen()
    {
        var queue = NewQueue();
        var envelope = new MessageEnvelope { Uuid = "u", Recipients = ["a@x.test"] };
        await Store.EnqueueAsync(queue, Item("plain", envelope), CancellationToken.None);
        await Store.EnqueueAsync(queue, Item("retried"), CancellationToken.None);
        await Store.EnqueueAsync(queue, Item("dead"), CancellationToken.None);
        var leased = await Store.LeaseAsync(queue, 3, LongLease, CancellationToken.None);
        await Store.CommitAsync(new QueueTransaction()
            .Release(leased[0])
            .Retry(leased[1], Time.GetUtcNow() + TimeSpan.FromMinutes(1))
            .DeadLetter(leased[2], "poison"), CancellationToken.None);

        await ReopenAsync();

        Assert.Equal(2, await Store.CountAsync(queue, CancellationToken.None));
        Time.Advance(TimeSpan.FromMinutes(1));
        var after = await Store.LeaseAsync(queue, 10, LongLease, CancellationToken.None);
        Assert.Equal(["plain", "retried"], after.Select(Text));
        Assert.Equal("u", after[0].Envelope.Uuid);
        Assert.Equal(["a@x.test"], after[0].Envelope.Recipients);
        Assert.Equal(0, after[0].Attempts);
        Assert.Equal(1, after[1].Attempts);
    }

    /// <summary>True when reopening proves the old leaseholders gone (a single-process store), so their
    /// items are due at once; false when other consumers may still hold them (then leases just expire).</summary>
    protected abstract bool ReopenReleasesLeases { get; }

    [Fact]
    public async Task Leases_held_when_the_store_closes_come_back()
    {
        var queue = NewQueue();
        await Store.EnqueueAsync(queue, Item("x"), CancellationToken.None);
        var before = Assert.Single(await Store.LeaseAsync(queue, 1, TimeSpan.FromMinutes(1), CancellationToken.None));

        await ReopenAsync();

        if (!ReopenReleasesLeases)
        {
            Assert.Empty(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));
            Time.Advance(TimeSpan.FromMinutes(1));
        }
        var after = Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None));
        Assert.Equal(before.Id, after.Id);
        Assert.NotEqual(before.LeaseToken, after.LeaseToken);
    }

    [Fact]
    public async Task Invalid_arguments_are_rejected()
    {
        var queue = NewQueue();
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.EnqueueAsync("", Item("x"), CancellationToken.None).AsTask());
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.LeaseAsync(queue, 0, LongLease, CancellationToken.None).AsTask());
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.LeaseAsync(queue, 1, TimeSpan.Zero, CancellationToken.None).AsTask());
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.CommitAsync(null!, CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task A_cancelled_enqueue_or_lease_does_nothing()
    {
        var queue = NewQueue();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Store.EnqueueAsync(queue, Item("x"), cancelled.Token).AsTask());
        Assert.Equal(0, await Store.CountAsync(queue, CancellationToken.None));

        await Store.EnqueueAsync(queue, Item("y"), CancellationToken.None);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Store.LeaseAsync(queue, 1, LongLease, cancelled.Token).AsTask());
        Assert.Equal("y", Text(Assert.Single(await Store.LeaseAsync(queue, 1, LongLease, CancellationToken.None))));
    }

    [Fact]
    public async Task A_disposed_store_refuses_work()
    {
        await Store.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => Store.EnqueueAsync(NewQueue(), Item("x"), CancellationToken.None).AsTask());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => Store.LeaseAsync(NewQueue(), 1, LongLease, CancellationToken.None).AsTask());
    }

    protected static string NewQueue(string hint = "q") => $"{hint}-{Guid.NewGuid():N}";

    protected static QueueItem Item(string text, MessageEnvelope? envelope = null) =>
        new(envelope ?? MessageEnvelope.Empty, Encoding.UTF8.GetBytes(text));

    protected static string Text(LeasedItem item) => Encoding.UTF8.GetString(item.Body.Span);

    protected async Task ReopenAsync() => Store = await ReopenStoreAsync(Store, Time);

    /// <summary>The wait is still on a second before <paramref name="due"/> (from now) and completes once the
    /// clock passes it. The store reacts in real time, so the clock moves on by a second only after a quarter of
    /// a second of real time without a wake-up (a timer may have been set just after the clock last moved), and
    /// never by more than a minute past the due time: a slow machine cannot make the store look late.</summary>
    protected async Task AssertWakesAtAsync(Task wait, TimeSpan due)
    {
        Assert.False(wait.IsCompleted);
        Time.Advance(due - TimeSpan.FromSeconds(1));
        Assert.False(wait.IsCompleted, "Woke before the item was due.");
        Time.Advance(TimeSpan.FromSeconds(2));
        for (var late = 0; late < 60 && !wait.IsCompleted; late++)
        {
            await Task.WhenAny(wait, Task.Delay(TimeSpan.FromMilliseconds(250)));
            if (!wait.IsCompleted)
            {
                Time.Advance(TimeSpan.FromSeconds(1));
            }
        }

        Assert.True(wait.IsCompleted, "Still waiting a minute after the due time.");
        await wait;
    }
}
