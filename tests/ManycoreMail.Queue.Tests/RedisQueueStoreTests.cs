using System.Text;
using ManycoreMail.Queue.Redis;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Queue.Tests;

/// <summary>What the Redis store adds to the contract: the original's wire format, several processes
/// on one server, and outages.</summary>
public sealed class RedisQueueStoreTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task Ready_items_are_the_raw_bytes_in_a_list_named_as_the_queue()
    {
        await using var store = await OpenAsync();
        var queue = Queue("IB-MAIL-QUEUE-P1");
        var mail = "X-Uuid: 1\r\nSubject: hi\r\n\r\nbody\r\n"u8.ToArray();
        var envelope = new MessageEnvelope { Uuid = "1", ReturnPath = "bounce-1@rp.example", Recipients = ["a@x.test"] };

        await store.EnqueueAsync(queue, new QueueItem(envelope, mail), CancellationToken.None);

        var list = await store.Client.ExecuteAsync(CancellationToken.None, "LRANGE", queue, "0", "-1");
        Assert.Equal(mail, Assert.Single(list.Items.ToArray()).Memory.ToArray());
        Assert.Equal("list", (await store.Client.ExecuteAsync(CancellationToken.None, "TYPE", queue)).ToString());
    }

    [Fact]
    public async Task An_item_pushed_by_an_original_module_is_leased_with_no_envelope_and_settles()
    {
        await using var store = await OpenAsync();
        var queue = Queue("EVENT_QUEUE");
        const string Event = """{"event":"delivered","uuid":"u1","timestamp":1700000000}""";
        await store.Client.ExecuteAsync(CancellationToken.None, "RPUSH", queue, Event);

        var item = Assert.Single(await store.LeaseAsync(queue, 10, Lease, CancellationToken.None));
        Assert.Equal(Event, Encoding.UTF8.GetString(item.Body.Span));
        Assert.Null(item.Envelope.Uuid);
        Assert.Empty(item.Envelope.Recipients);
        Assert.Equal(0, item.Attempts);
        Assert.True(item.Id > 0);

        await store.CommitAsync(new QueueTransaction().Retry(item, DateTimeOffset.UtcNow.AddDays(-1)), CancellationToken.None);
        var again = Assert.Single(await store.LeaseAsync(queue, 10, Lease, CancellationToken.None));
        Assert.Equal(item.Id, again.Id);
        Assert.Equal(1, again.Attempts);
        Assert.Equal(item.CreatedAt, again.CreatedAt);
        await store.CommitAsync(new QueueTransaction().Complete(again), CancellationToken.None);
        Assert.Equal(0, await store.CountAsync(queue, CancellationToken.None));
    }

    [Fact]
    public async Task An_original_consumer_pops_exactly_what_we_pushed()
    {
        await using var store = await OpenAsync();
        var source = Queue("IB-MAIL-QUEUE-P0");
        var target = Queue("INCOMING-TO-POSTFIX");
        await store.EnqueueAsync(source, new QueueItem(new MessageEnvelope { Uuid = "u" }, "raw"u8.ToArray()), CancellationToken.None);
        var item = Assert.Single(await store.LeaseAsync(source, 1, Lease, CancellationToken.None));

        var signed = "X-ReturnPathIb: bounce-u@rp.example\nDKIM-Signature: v=1\n\nbody\n"u8.ToArray();
        await store.CommitAsync(new QueueTransaction().Complete(item).Enqueue(target, new QueueItem(item.Envelope, signed)), CancellationToken.None);

        // What the original PostfixLog poller does: BLPOP the list.
        var popped = await store.Client.ExecuteAsync(CancellationToken.None, "BLPOP", target, "1");
        Assert.Equal(target, popped[0].ToString());
        Assert.Equal(signed, popped[1].Memory.ToArray());
    }

    [Fact]
    public async Task Identical_bodies_keep_their_own_envelopes()
    {
        await using var store = await OpenAsync();
        var queue = Queue();
        for (var i = 0; i < 3; i++)
        {
            await store.EnqueueAsync(queue, new QueueItem(new MessageEnvelope { Uuid = $"u{i}" }, "same"u8.ToArray()), CancellationToken.None);
        }

        var items = await store.LeaseAsync(queue, 10, Lease, CancellationToken.None);
        Assert.Equal(["u0", "u1", "u2"], items.Select(i => i.Envelope.Uuid));
        Assert.Equal(3, items.Select(i => i.Id).Distinct().Count());
    }

    [Fact]
    public async Task Large_messages_keep_their_envelopes_among_foreign_pushes_and_retries()
    {
        // Large bodies are paired with their metadata by header block and length, not by a hash of every byte.
        await using var store = await OpenAsync();
        var queue = Queue();
        static byte[] Message(string uuid, char fill, int size = 20_000) =>
            Encoding.ASCII.GetBytes($"X-Uuid: {uuid}\r\nSubject: s\r\n\r\n{new string(fill, size)}\r\n");
        await store.EnqueueAsync(queue, new QueueItem(new MessageEnvelope { Uuid = "a" }, Message("a", 'x')), CancellationToken.None);
        // An original module pushes a body with other headers but the same length, then one without a header block.
        await store.Client.ExecuteAsync(CancellationToken.None, "RPUSH", queue, Encoding.ASCII.GetString(Message("z", 'x')));
        await store.Client.ExecuteAsync(CancellationToken.None, "RPUSH", queue, new string('q', 9000));
        await store.EnqueueAsync(queue, new QueueItem(new MessageEnvelope { Uuid = "b" }, Message("b", 'y')), CancellationToken.None);

        var first = await store.LeaseAsync(queue, 10, Lease, CancellationToken.None);
        Assert.Equal(["a", null, null, "b"], first.Select(i => i.Envelope.Uuid));
        Assert.Equal(Message("b", 'y'), first[3].Body.ToArray());
        // Due again at once: body and metadata go back to the ready list and pair up again.
        await store.CommitAsync(new QueueTransaction().Retry(first[3], DateTimeOffset.UtcNow.AddDays(-1)).Retry(first[0], DateTimeOffset.UtcNow.AddDays(-1)),
            CancellationToken.None);
        var again = await store.LeaseAsync(queue, 10, Lease, CancellationToken.None);
        Assert.Equal(["b", "a"], again.Select(i => i.Envelope.Uuid));
        Assert.Equal([first[3].Id, first[0].Id], again.Select(i => i.Id));
        Assert.Equal(Message("a", 'x'), again[1].Body.ToArray());
    }

    [Fact]
    public async Task A_lease_stops_taking_items_once_their_bodies_reach_the_byte_limit()
    {
        await using var store = await OpenAsync(new RedisQueueStoreOptions { MaxLeaseBytes = 10_000 });
        var queue = Queue();
        for (var i = 0; i < 5; i++)
        {
            await store.EnqueueAsync(queue, new QueueItem(new MessageEnvelope { Uuid = $"u{i}" }, new byte[4_000]), CancellationToken.None);
        }

        // 4,000 + 4,000 + 4,000 reaches 10,000 with the third; a body larger than the limit would still come alone.
        Assert.Equal(["u0", "u1", "u2"], (await store.LeaseAsync(queue, 10, Lease, CancellationToken.None)).Select(i => i.Envelope.Uuid));
        Assert.Equal(["u3", "u4"], (await store.LeaseAsync(queue, 10, Lease, CancellationToken.None)).Select(i => i.Envelope.Uuid));
    }

    [Fact]
    public async Task Dead_letters_keep_body_envelope_and_reason()
    {
        await using var store = await OpenAsync();
        var queue = Queue();
        await store.EnqueueAsync(queue, new QueueItem(new MessageEnvelope { Uuid = "p" }, "poison"u8.ToArray()), CancellationToken.None);
        var item = Assert.Single(await store.LeaseAsync(queue, 1, Lease, CancellationToken.None));

        await store.CommitAsync(new QueueTransaction().DeadLetter(item, "550 5.6.0 broken"), CancellationToken.None);

        var dead = Assert.Single(await store.ReadDeadLettersAsync(queue, 10, CancellationToken.None));
        Assert.Equal(item.Id, dead.Id);
        Assert.Equal("p", dead.Envelope.Uuid);
        Assert.Equal("poison", Encoding.UTF8.GetString(dead.Body.Span));
        Assert.Equal("550 5.6.0 broken", dead.Reason);
    }

    [Fact]
    public async Task Several_processes_hand_every_item_over_exactly_once()
    {
        const int Items = 1000;
        var source = Queue("src");
        var target = Queue("dst");
        var stores = new List<RedisQueueStore>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                stores.Add(await OpenAsync());
            }
            await Task.WhenAll(Enumerable.Range(0, Items).Select(i =>
                stores[i % stores.Count].EnqueueAsync(source, new QueueItem(MessageEnvelope.Empty, Encoding.UTF8.GetBytes($"m{i}")), CancellationToken.None).AsTask()));

            await Task.WhenAll(stores.Select(store => Task.Run(async () =>
            {
                for (var round = 0; round < Items; round++)
                {
                    await store.WaitForItemsAsync(source, TimeSpan.FromMilliseconds(50), CancellationToken.None);
                    var batch = await store.LeaseAsync(source, 16, Lease, CancellationToken.None);
                    if (batch.Count == 0)
                    {
                        return;
                    }
                    var handOff = new QueueTransaction();
                    foreach (var item in batch)
                    {
                        handOff.Complete(item).Enqueue(target, new QueueItem(item.Envelope, item.Body));
                    }
                    await store.CommitAsync(handOff, CancellationToken.None);
                }
            }))).WaitAsync(Deadline);

            var moved = await stores[0].Client.ExecuteAsync(CancellationToken.None, "LRANGE", target, "0", "-1");
            Assert.Equal(
                Enumerable.Range(0, Items).Select(i => $"m{i}").Order(StringComparer.Ordinal),
                moved.Items.ToArray().Select(v => v.ToString()!).Order(StringComparer.Ordinal));
            Assert.Equal(0, await stores[0].CountAsync(source, CancellationToken.None));
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_waiter_wakes_when_another_process_pushes()
    {
        await using var waiter = await OpenAsync();
        var queue = Queue();
        var wait = waiter.WaitForItemsAsync(queue, TimeSpan.FromMinutes(5), CancellationToken.None).AsTask();
        Assert.False(wait.IsCompleted);

        // A raw RPUSH, as the original receiver does, from a connection the waiter knows nothing of.
        await using var other = new RedisClient(redis.ClientOptions);
        await other.ExecuteAsync(CancellationToken.None, "RPUSH", queue, "from elsewhere");

        await wait.WaitAsync(Deadline);
        Assert.Single(await waiter.LeaseAsync(queue, 10, Lease, CancellationToken.None));
    }

    [Fact]
    public async Task Everything_acknowledged_survives_a_kill_of_redis_and_work_resumes()
    {
        using var server = await RedisServer.StartAsync();
        var options = new RedisClientOptions { Host = server.Host, Port = server.Port, MinReconnectDelay = TimeSpan.FromMilliseconds(20), MaxReconnectDelay = TimeSpan.FromMilliseconds(200) };
        await using var store = await RedisQueueStore.ConnectAsync(options, TimeProvider.System, null, CancellationToken.None);
        var queue = Queue();
        for (var i = 0; i < 200; i++)
        {
            await store.EnqueueAsync(queue, new QueueItem(new MessageEnvelope { Uuid = $"u{i}" }, Encoding.UTF8.GetBytes($"m{i}")), CancellationToken.None);
        }
        var leased = await store.LeaseAsync(queue, 50, TimeSpan.FromMilliseconds(1), CancellationToken.None);
        Assert.Equal(50, leased.Count);

        server.Kill();
        await Assert.ThrowsAsync<RedisConnectionException>(() => store.EnqueueAsync(queue, new QueueItem(MessageEnvelope.Empty, "lost"u8.ToArray()), CancellationToken.None).AsTask());
        // What a backend-neutral caller catches: the outage in the queue's own terms.
        IQueueStore neutral = store;
        await Assert.ThrowsAnyAsync<QueueUnavailableException>(() => neutral.LeaseAsync(queue, 1, Lease, CancellationToken.None).AsTask());
        // Waiting does not throw while Redis is away; it just waits.
        await store.WaitForItemsAsync(queue, TimeSpan.FromMilliseconds(100), CancellationToken.None).AsTask().WaitAsync(Deadline);
        await server.RestartAsync();

        var count = await Eventually.GetAsync(async () =>
        {
            try
            {
                return (object)await store.CountAsync(queue, CancellationToken.None);
            }
            catch (RedisConnectionException)
            {
                return null;
            }
        }, Deadline, "the store to reach the restarted server");
        Assert.Equal(200L, count);

        // The expired leases come back; every item is there once with its envelope.
        var seen = new Dictionary<string, string?>();
        for (var round = 0; round < 100 && seen.Count < 200; round++)
        {
            foreach (var item in await store.LeaseAsync(queue, 100, Lease, CancellationToken.None))
            {
                seen.Add(Encoding.UTF8.GetString(item.Body.Span), item.Envelope.Uuid);
                await store.CommitAsync(new QueueTransaction().Complete(item), CancellationToken.None);
            }
        }
        Assert.Equal(200, seen.Count);
        Assert.All(seen, pair => Assert.Equal("u" + pair.Key[1..], pair.Value));
        Assert.Equal(0, await store.CountAsync(queue, CancellationToken.None));
    }

    [Fact]
    public async Task A_body_reaches_the_append_only_file_once_however_often_it_is_leased_or_retried()
    {
        await using var store = await OpenAsync(new RedisQueueStoreOptions { MaxLeaseBytes = 4 << 20 });
        var queue = Queue();
        var body = new byte[1 << 20];
        "X-Uuid: big\r\n\r\n"u8.CopyTo(body);
        body.AsSpan(14).Fill((byte)'x');
        var before = await AofSizeAsync(store);

        await store.EnqueueAsync(queue, new QueueItem(new MessageEnvelope { Uuid = "big" }, body), CancellationToken.None);
        var first = Assert.Single(await store.LeaseAsync(queue, 1, Lease, CancellationToken.None));
        await store.CommitAsync(new QueueTransaction().Release(first), CancellationToken.None);
        var second = Assert.Single(await store.LeaseAsync(queue, 1, Lease, CancellationToken.None));
        await store.CommitAsync(new QueueTransaction().Retry(second, DateTimeOffset.UtcNow.AddMinutes(-1)), CancellationToken.None);
        var third = Assert.Single(await store.LeaseAsync(queue, 1, Lease, CancellationToken.None));
        Assert.Equal(body, third.Body.ToArray());
        await store.CommitAsync(new QueueTransaction().DeadLetter(third, "enough"), CancellationToken.None);

        var dead = Assert.Single(await store.ReadDeadLettersAsync(queue, 10, CancellationToken.None));
        Assert.Equal(body, dead.Body.ToArray());
        // One push of 1 MiB and five moves: a lease or retry that copied the body would add a MiB each.
        var written = await AofSizeAsync(store) - before;
        Assert.InRange(written, body.Length, body.Length + (64 << 10));
    }

    [Fact]
    public async Task A_lease_of_large_items_split_over_the_connections_grants_each_item_once()
    {
        await using var store = await OpenAsync(new RedisQueueStoreOptions { MaxLeaseBytes = 16 << 20 });
        var queue = Queue();
        for (var i = 0; i < 12; i++)
        {
            var body = new byte[200_000];
            Encoding.ASCII.GetBytes($"X-Uuid: {i}\r\n\r\n").CopyTo(body, 0);
            await store.EnqueueAsync(queue, new QueueItem(new MessageEnvelope { Uuid = i.ToString(System.Globalization.CultureInfo.InvariantCulture) }, body), CancellationToken.None);
        }

        // The first lease teaches the store how large this queue's items are; the second is then split in parts.
        var first = await store.LeaseAsync(queue, 1, Lease, CancellationToken.None);
        var rest = await store.LeaseAsync(queue, 20, Lease, CancellationToken.None);

        var leased = first.Concat(rest).ToArray();
        Assert.Equal(Enumerable.Range(0, 12).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).Order(),
            leased.Select(item => item.Envelope.Uuid!).Order());
        Assert.Equal(12, leased.Select(item => item.LeaseToken).Distinct().Count());
        Assert.Empty(await store.LeaseAsync(queue, 20, Lease, CancellationToken.None));
        await CompleteAllAsync(store, leased);
        Assert.Equal(0, await store.CountAsync(queue, CancellationToken.None));
    }

    [Theory]
    [InlineData(100, true)]
    [InlineData(5000, true)]
    [InlineData(5000, false)]
    [InlineData(200_000, true)]
    public async Task The_digest_computed_by_the_client_is_the_one_the_scripts_compute(int size, bool headerBlock)
    {
        // Ready bodies are paired with their metadata by a digest the client computes for large items and the lease
        // script computes for small ones (and for items stored before it was kept). Both must agree byte for byte,
        // and so must the digest of a forwarded body computed from its two parts, wherever they meet.
        await using var store = await OpenAsync();
        var body = new byte[size];
        Random.Shared.NextBytes(body);
        if (headerBlock)
        {
            "X-Uuid: d\r\nSubject: s\r\n\r\n"u8.CopyTo(body);
        }
        else
        {
            body.AsSpan().Replace((byte)'\r', (byte)'x');
        }

        using var eval = RespRequest.Eval(new RedisScript(RedisQueueScripts.Digest + "return digest(ARGV[1])"), keyCount: 0, keysAndArguments: 1);
        eval.Add(body);
        var scripted = Encoding.ASCII.GetString((await store.Client.ExecuteAsync(eval, CancellationToken.None)).Span);

        var digest = new byte[RedisBodyDigest.Length];
        Assert.Equal(scripted, Encoding.ASCII.GetString(digest, 0, RedisBodyDigest.Compute(body, digest)));
        // Cuts before, inside and after the blank line that ends the header block (it is bytes 21 to 24).
        foreach (var cut in new[] { 0, 1, 21, 22, 23, 24, 25, 26, size / 2, size - 1, size })
        {
            var length = RedisBodyDigest.Compute(body.AsSpan(0, cut), body.AsSpan(cut), digest);
            Assert.Equal(scripted, Encoding.ASCII.GetString(digest, 0, length));
        }
    }

    [Fact]
    public async Task A_lease_of_small_items_is_one_round_trip_and_of_large_ones_two()
    {
        // A lease of small items is one script call (EVALSHA); of large ones a MULTI ... EXEC and a second call.
        await using var store = await OpenAsync();
        var small = Queue("small");
        var large = Queue("large");
        for (var i = 0; i < 3; i++)
        {
            await store.EnqueueAsync(small, Message($"s{i}", RedisQueueStore.PairHereItemBytes / 2), CancellationToken.None);
            await store.EnqueueAsync(large, Message($"l{i}", RedisQueueStore.PairHereItemBytes * 2), CancellationToken.None);
        }

        await store.Client.ExecuteAsync(CancellationToken.None, "CONFIG", "RESETSTAT");
        // The first lease of a queue takes one item (its size is not known yet), the next ones the rest.
        var smallItems = (await store.LeaseAsync(small, 1, Lease, CancellationToken.None))
            .Concat(await store.LeaseAsync(small, 2, Lease, CancellationToken.None)).ToArray();
        Assert.Equal(["s0", "s1", "s2"], smallItems.Select(item => item.Envelope.Uuid));
        var calls = await CommandCallsAsync(store);
        Assert.Equal((0, 2), (calls.Exec, calls.EvalSha));

        var largeItems = (await store.LeaseAsync(large, 1, Lease, CancellationToken.None))
            .Concat(await store.LeaseAsync(large, 2, Lease, CancellationToken.None)).ToArray();
        Assert.Equal(["l0", "l1", "l2"], largeItems.Select(item => item.Envelope.Uuid));
        // The first was leased as a small one (its size was not known), the second as large ones, in two calls.
        calls = await CommandCallsAsync(store);
        Assert.Equal((1, 4), (calls.Exec, calls.EvalSha));

        await CompleteAllAsync(store, smallItems.Concat(largeItems));
        Assert.Equal(0, await store.CountAsync(small, CancellationToken.None) + await store.CountAsync(large, CancellationToken.None));
    }

    [Theory]
    [InlineData(100)]
    [InlineData(100_000)]
    public async Task A_forwarded_body_is_the_prefix_and_the_source_tail_byte_for_byte(int size)
    {
        await using var store = await OpenAsync();
        var inbound = Queue("in");
        var outbound = Queue("out");
        var submitted = Message("fw", size).Body.ToArray();
        await store.EnqueueAsync(inbound, new QueueItem(new MessageEnvelope { Uuid = "fw" }, submitted), CancellationToken.None);
        var source = Assert.Single(await store.LeaseAsync(inbound, 1, Lease, CancellationToken.None));

        // The new header block ends with its last header; the blank line comes from the source's tail.
        var headerEnd = submitted.AsSpan().IndexOf("\r\n\r\n"u8);
        var prefix = "DKIM-Signature: v=1; a=rsa-sha256\r\nX-Uuid: fw"u8.ToArray();
        await store.CommitAsync(new QueueTransaction().Forward(source, outbound, new MessageEnvelope { Uuid = "fw", Recipients = ["r@x.test"] }, prefix, headerEnd), CancellationToken.None);

        var expected = prefix.Concat(submitted[headerEnd..]).ToArray();
        Assert.Equal(expected, (await store.Client.ExecuteAsync(CancellationToken.None, "LINDEX", outbound, "0")).Memory.ToArray());
        var forwarded = Assert.Single(await store.LeaseAsync(outbound, 1, Lease, CancellationToken.None));
        Assert.Equal(["r@x.test"], forwarded.Envelope.Recipients);
        Assert.Equal(expected, forwarded.Body.ToArray());
        Assert.Equal(0, await store.CountAsync(inbound, CancellationToken.None));
        await store.CommitAsync(new QueueTransaction().Complete(forwarded), CancellationToken.None);
    }

    [Fact]
    public async Task An_item_whose_holder_died_between_the_two_calls_of_a_lease_returns_with_its_envelope()
    {
        await using var store = await OpenAsync();
        var queue = Queue();
        var body = new byte[50_000];
        "X-Uuid: half\r\n\r\n"u8.CopyTo(body);
        var envelope = new MessageEnvelope { Uuid = "half", ReturnPath = "rp@x.test", Recipients = ["a@x.test"] };
        await store.EnqueueAsync(queue, new QueueItem(envelope, body), CancellationToken.None);

        // The first call of a lease as a holder sends it (a slot leased for a second, its body moved in), then
        // nothing more: the holder was killed before pairing.
        var slot = (await store.Client.ExecuteAsync(CancellationToken.None, "INCR", "mm:ids")).Integer;
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        using var multi = RespRequest.Create(1).Add("MULTI"u8);
        using var register = RespRequest.Eval(RedisQueueScripts.Lease, keyCount: 4, keysAndArguments: 9);
        register.Add(queue).Add($"mm:q:{queue}:leased").Add($"mm:q:{queue}:sched").Add("mm:tokens")
            .Add($"mm:q:{queue}:").Add(now).Add(now + 1000).Add(100).Add(slot);
        using var move = RespRequest.Create(5).Add("LMOVE"u8).Add(queue).Add($"mm:q:{queue}:body:{slot}").Add("LEFT"u8).Add("RIGHT"u8);
        using var exec = RespRequest.Create(1).Add("EXEC"u8);
        var replies = await store.Client.ExecuteAdjacentAsync([multi, register, move, exec], CancellationToken.None);
        Assert.Equal(body, replies[^1][1].Memory.ToArray());

        // Once the slot's lease has expired the item is back, paired with the metadata it had, and only once.
        var deadline = DateTime.UtcNow + Deadline;
        IReadOnlyList<LeasedItem> back = [];
        while (back.Count == 0 && DateTime.UtcNow < deadline)
        {
            back = await store.LeaseAsync(queue, 10, Lease, CancellationToken.None);
            if (back.Count == 0)
            {
                await store.WaitForItemsAsync(queue, TimeSpan.FromMilliseconds(200), CancellationToken.None);
            }
        }
        var item = Assert.Single(back);
        Assert.Equal("half", item.Envelope.Uuid);
        Assert.Equal(["a@x.test"], item.Envelope.Recipients);
        Assert.Equal(body, item.Body.ToArray());
        await store.CommitAsync(new QueueTransaction().Complete(item), CancellationToken.None);
        Assert.Equal(0, await store.CountAsync(queue, CancellationToken.None));
        Assert.Empty((await store.Client.ExecuteAsync(CancellationToken.None, "KEYS", $"mm:q:{queue}:*")).Items.ToArray());
    }

    [Fact]
    public async Task Concurrent_commits_go_in_groups_and_one_that_lost_its_lease_is_taken_back_alone()
    {
        const int Items = 40;
        await using var store = await OpenAsync();
        var source = Queue("src");
        var target = Queue("dst");
        for (var i = 0; i < Items; i++)
        {
            await store.EnqueueAsync(source, new QueueItem(new MessageEnvelope { Uuid = $"in-{i}" }, Encoding.UTF8.GetBytes($"in-{i}")), CancellationToken.None);
        }
        var leased = (await store.LeaseAsync(source, Items, Lease, CancellationToken.None)).OrderBy(item => item.Envelope.Uuid, StringComparer.Ordinal).ToArray();
        Assert.Equal(Items, leased.Length);
        // Every fourth lease goes stale: the item is released and leased again by somebody else.
        var stale = leased.Where((_, i) => i % 4 == 0).ToHashSet();
        var release = new QueueTransaction();
        foreach (var item in stale)
        {
            release.Release(item);
        }
        await store.CommitAsync(release, CancellationToken.None);
        var current = await store.LeaseAsync(source, Items, Lease, CancellationToken.None);
        Assert.Equal(stale.Count, current.Count);

        // Each hand-off pushes its new item first, so that one applied operation by operation would have to undo it;
        // every push is due now, onto the same list, so a taken-back body lies between bodies that stay.
        var handOffs = leased.Select(item => new QueueTransaction()
            .Enqueue(target, new QueueItem(new MessageEnvelope { Uuid = "out-" + item.Envelope.Uuid }, Encoding.UTF8.GetBytes("out-" + item.Envelope.Uuid)))
            .Complete(item)).ToArray();
        var (_, _, evalsBefore) = await CommandCallsAsync(store);
        var commits = handOffs.Select(t => store.CommitAsync(t, CancellationToken.None).AsTask()).ToArray();
        for (var i = 0; i < Items; i++)
        {
            if (stale.Contains(leased[i]))
            {
                await Assert.ThrowsAsync<LeaseLostException>(() => commits[i].WaitAsync(Deadline));
            }
            else
            {
                await commits[i].WaitAsync(Deadline);
            }
        }
        var (_, _, evalsAfter) = await CommandCallsAsync(store);
        Assert.InRange(evalsAfter - evalsBefore, 1, Items - 1);

        var expected = leased.Where(item => !stale.Contains(item)).Select(item => "out-" + item.Envelope.Uuid).Order(StringComparer.Ordinal).ToArray();
        var moved = await store.Client.ExecuteAsync(CancellationToken.None, "LRANGE", target, "0", "-1");
        Assert.Equal(expected, moved.Items.ToArray().Select(v => v.ToString()!).Order(StringComparer.Ordinal));
        // Each body still meets its own envelope: the metadata of the taken-back items went with them.
        var handedOver = await store.LeaseAsync(target, Items, Lease, CancellationToken.None);
        Assert.Equal(expected.Length, handedOver.Count);
        Assert.All(handedOver, item => Assert.Equal(item.Envelope.Uuid, Encoding.UTF8.GetString(item.Body.Span)));
        // The new holders of the stale items are unaffected.
        Assert.Equal(stale.Count, await store.CountAsync(source, CancellationToken.None));
        await CompleteAllAsync(store, current.Concat(handedOver));
        Assert.Equal(0, await store.CountAsync(source, CancellationToken.None) + await store.CountAsync(target, CancellationToken.None));
    }

    [Fact]
    public async Task Commits_with_large_bodies_go_alone_and_side_by_side()
    {
        const int Items = 12;
        await using var store = await OpenAsync();
        var queue = Queue("large");
        var (_, _, evalsBefore) = await CommandCallsAsync(store);
        var commits = Enumerable.Range(0, Items)
            .Select(i => store.EnqueueAsync(queue, Message($"l{i}", (int)RedisCommitGroups.SoloBodyBytes), CancellationToken.None).AsTask())
            .ToArray();
        await Task.WhenAll(commits).WaitAsync(Deadline);

        var (_, _, evalsAfter) = await CommandCallsAsync(store);
        Assert.Equal(Items, evalsAfter - evalsBefore);
        var leased = await store.LeaseAsync(queue, Items, Lease, CancellationToken.None);
        Assert.Equal(Enumerable.Range(0, Items).Select(i => $"l{i}").Order(StringComparer.Ordinal), leased.Select(item => item.Envelope.Uuid).Order(StringComparer.Ordinal));
        Assert.All(leased, item => Assert.Equal((int)RedisCommitGroups.SoloBodyBytes, item.Body.Length));
    }

    [Fact]
    public async Task Of_two_concurrent_transactions_settling_one_lease_exactly_one_applies()
    {
        await using var store = await OpenAsync();
        var source = Queue("src");
        var target = Queue("dst");
        await store.EnqueueAsync(source, new QueueItem(MessageEnvelope.Empty, "x"u8.ToArray()), CancellationToken.None);
        var item = Assert.Single(await store.LeaseAsync(source, 1, Lease, CancellationToken.None));

        var first = store.CommitAsync(new QueueTransaction().Enqueue(target, new QueueItem(MessageEnvelope.Empty, "a"u8.ToArray())).Complete(item), CancellationToken.None).AsTask();
        var second = store.CommitAsync(new QueueTransaction().Enqueue(target, new QueueItem(MessageEnvelope.Empty, "b"u8.ToArray())).Complete(item), CancellationToken.None).AsTask();
        await Task.WhenAll(first, second).ContinueWith(_ => { }, TaskScheduler.Default).WaitAsync(Deadline);

        var winner = Assert.Single(new[] { first, second }, t => t.IsCompletedSuccessfully);
        Assert.IsType<LeaseLostException>((winner == first ? second : first).Exception?.InnerException);
        var moved = await store.Client.ExecuteAsync(CancellationToken.None, "LRANGE", target, "0", "-1");
        Assert.Equal(winner == first ? "a" : "b", Assert.Single(moved.Items.ToArray()).ToString());
        Assert.Equal(0, await store.CountAsync(source, CancellationToken.None));
    }

    [Fact]
    public async Task A_push_onto_a_key_that_holds_no_list_fails_its_transaction_alone_and_leaves_nothing_behind()
    {
        await using var store = await OpenAsync();
        var broken = Queue("broken");
        var fine = Queue("fine");
        var source = Queue("src");
        await store.Client.ExecuteAsync(CancellationToken.None, "SET", broken, "somebody else's string");
        await store.EnqueueAsync(source, new QueueItem(MessageEnvelope.Empty, "x"u8.ToArray()), CancellationToken.None);
        var item = Assert.Single(await store.LeaseAsync(source, 1, Lease, CancellationToken.None));

        var failing = store.CommitAsync(new QueueTransaction()
            .Enqueue(fine, new QueueItem(MessageEnvelope.Empty, "lost with its transaction"u8.ToArray()))
            .Enqueue(broken, new QueueItem(MessageEnvelope.Empty, "nowhere to go"u8.ToArray()))
            .Complete(item), CancellationToken.None).AsTask();
        var passing = store.CommitAsync(new QueueTransaction().Enqueue(fine, new QueueItem(MessageEnvelope.Empty, "kept"u8.ToArray())), CancellationToken.None).AsTask();

        var error = await Assert.ThrowsAsync<RedisServerException>(() => failing.WaitAsync(Deadline));
        Assert.Contains(broken, error.Message, StringComparison.Ordinal);
        await passing.WaitAsync(Deadline);
        var kept = await store.Client.ExecuteAsync(CancellationToken.None, "LRANGE", fine, "0", "-1");
        Assert.Equal("kept", Assert.Single(kept.Items.ToArray()).ToString());
        Assert.Empty((await store.Client.ExecuteAsync(CancellationToken.None, "KEYS", $"mm:q:{broken}:*")).Items.ToArray());
        // The lease of the failed transaction is still held and settles.
        await store.CommitAsync(new QueueTransaction().Complete(item), CancellationToken.None);
        Assert.Equal(0, await store.CountAsync(source, CancellationToken.None));
    }

    [Theory]
    [InlineData(100)] // grouped
    [InlineData((int)RedisCommitGroups.SoloBodyBytes)] // each alone
    public async Task Commits_submitted_before_the_store_is_disposed_are_finished(int size)
    {
        const int Items = 50;
        var queue = Queue();
        Task[] commits;
        await using (var store = await OpenAsync())
        {
            commits = Enumerable.Range(0, Items)
                .Select(i => store.EnqueueAsync(queue, Message($"m{i}", size), CancellationToken.None).AsTask())
                .ToArray();
        }
        await Task.WhenAll(commits).WaitAsync(Deadline);

        await using var reader = await OpenAsync();
        Assert.Equal(Items, await reader.CountAsync(queue, CancellationToken.None));
    }

    private static QueueItem Message(string uuid, int size)
    {
        var body = new byte[size];
        body.AsSpan().Fill((byte)'x');
        var headers = Encoding.ASCII.GetBytes($"X-Uuid: {uuid}\r\nSubject: s\r\n\r\n");
        headers.CopyTo(body, 0);
        return new QueueItem(new MessageEnvelope { Uuid = uuid }, body);
    }

    /// <summary>Settles every item as done in one transaction.</summary>
    private static async Task CompleteAllAsync(RedisQueueStore store, IEnumerable<LeasedItem> items)
    {
        var complete = new QueueTransaction();
        foreach (var item in items)
        {
            complete.Complete(item);
        }
        await store.CommitAsync(complete, CancellationToken.None);
    }

    private static async Task<(long Exec, long EvalSha, long Eval)> CommandCallsAsync(RedisQueueStore store)
    {
        var stats = (await store.Client.ExecuteAsync(CancellationToken.None, "INFO", "commandstats")).ToString() ?? "";
        long Calls(string command)
        {
            var line = stats.Split("\r\n").FirstOrDefault(l => l.StartsWith($"cmdstat_{command}:calls=", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(',')[0].Split('=')[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        return (Calls("exec"), Calls("evalsha"), Calls("eval"));
    }

    private static async Task<long> AofSizeAsync(RedisQueueStore store)
    {
        var info = (await store.Client.ExecuteAsync(CancellationToken.None, "INFO", "persistence")).ToString() ?? "";
        var line = info.Split("\r\n").Single(l => l.StartsWith("aof_current_size:", StringComparison.Ordinal));
        return long.Parse(line["aof_current_size:".Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task<RedisQueueStore> OpenAsync(RedisQueueStoreOptions? options = null) =>
        await RedisQueueStore.ConnectAsync(redis.ClientOptions, TimeProvider.System, options, CancellationToken.None);

    private static string Queue(string hint = "q") => $"{hint}-{Guid.NewGuid():N}";
}
