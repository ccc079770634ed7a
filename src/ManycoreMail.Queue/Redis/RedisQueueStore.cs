using System.Collections.Concurrent;
using System.Text;
using ManycoreMail.Queue.Embedded;

namespace ManycoreMail.Queue.Redis;

/// <summary>
/// Durable queues on Redis, shared by any number of processes, wire-compatible with the original modules:
/// the ready items of queue Q are the raw bytes in the Redis LIST named Q (mail as RFC 5322, events as one
/// JSON object each), so the original's producers and consumers can share the server.
/// </summary>
/// <remarks>
/// Reliability sits beside those lists in keys of our own (see <see cref="RedisQueueScripts"/>): a lease moves
/// the item off the list into a list of its own (LMOVE: the bytes are not written again), with its metadata in
/// an item hash and a sorted set of leases by expiry, and pairs each body with its metadata (in the same MULTI for
/// small items, in a second call for large ones);
/// settling checks the lease token and applies every operation in one script, new bodies pushed beside it in the
/// same MULTI, so a hand-off between queues is never lost or doubled. Large bodies never pass through Lua: Redis'
/// Lua hashes every byte of a string it is handed, and at 100 KB that was a third of Redis' time. An item whose holder died (stopped settling) is due again when its lease expires, and
/// the next lease call by anyone moves it back to its list; the lease is the heartbeat. Retries wait in a
/// sorted set by due time. Times come from the store's <see cref="TimeProvider"/>, so every process
/// sharing the server should have a synchronised clock (NTP).
/// Durability is Redis': with <c>appendonly yes</c> and <c>appendfsync always</c> a completed call survives
/// a crash of the server; with <c>everysec</c> up to a second of acknowledged work can be lost.
/// </remarks>
public sealed class RedisQueueStore : IQueueStore, IDeadLetterStore
{
    private const int MaxWaitRounds = 100_000;
    // Two turns of Redis' event loop for one connection's part of a lease (see LeaseAsync).
    private const long LeasePartBytes = 128 * 1024;
    // Lease slot ids are taken from the shared id counter this many at a time.
    private const int SlotBlock = 1024;
    // Items up to this size are leased and paired by one script (one round trip), larger ones in two calls.
    // Measured (leases of 20, four holders, appendfsync always): at 10 KB pairing in the lease gave 1.5x the items/s
    // and two thirds of the lease latency for the same Redis CPU; at 20 KB both were even; from 40 KB on the
    // hashing in Lua cost more of Redis' time (+60 us an item at 40 KB, +180 us at 100 KB) than the call saved.
    internal const int PairHereItemBytes = 16 * 1024;

    private readonly RedisClient _client;
    private readonly bool _ownsClient;
    private readonly TimeProvider _time;
    private readonly RedisQueueStoreOptions _options;
    private readonly byte[] _prefix;
    private readonly byte[] _idsKey;
    private readonly byte[] _tokensKey;
    private readonly ConcurrentDictionary<string, RedisQueueKeys> _keys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, QueueWatch> _watches = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _disposing = new();
    private readonly Lock _slotLock = new();
    private readonly RedisCommitGroups _commits;
    private long _nextSlot;
    private long _endSlot;
    private int _disposed;

    /// <param name="client">The connection to use; disposed with the store when <paramref name="ownsClient"/>.</param>
    public RedisQueueStore(RedisClient client, TimeProvider time, RedisQueueStoreOptions? options = null, bool ownsClient = false)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(time);
        options ??= new RedisQueueStoreOptions();
        options.Validate();
        _client = client;
        _ownsClient = ownsClient;
        _time = time;
        _options = options;
        _prefix = Encoding.UTF8.GetBytes(options.KeyPrefix);
        _idsKey = Encoding.UTF8.GetBytes(options.KeyPrefix + "ids");
        _tokensKey = Encoding.UTF8.GetBytes(options.KeyPrefix + "tokens");
        _commits = new RedisCommitGroups(client, time, options.KeyPrefix, queue => KeysOf(queue).Name);
    }

    /// <summary>A store with a client of its own, connected (and Redis found) before it returns.</summary>
    public static async Task<RedisQueueStore> ConnectAsync(RedisClientOptions client, TimeProvider time, RedisQueueStoreOptions? options, CancellationToken cancellationToken)
    {
        var redis = new RedisClient(client);
        try
        {
            await redis.ConnectAsync(cancellationToken).ConfigureAwait(false);
            return new RedisQueueStore(redis, time, options, ownsClient: true);
        }
        catch
        {
            await redis.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public RedisClient Client => _client;

    public async ValueTask EnqueueAsync(string queue, QueueItem item, CancellationToken cancellationToken)
    {
        ValidateQueueName(queue);
        ArgumentNullException.ThrowIfNull(item);
        ThrowIfDisposed();
        await CommitAsync(new QueueTransaction().Enqueue(queue, item), cancellationToken).ConfigureAwait(false);
    }

    public ValueTask<IReadOnlyList<LeasedItem>> LeaseAsync(string queue, int max, TimeSpan leaseFor, CancellationToken cancellationToken) =>
        LeaseAsync(queue, max, long.MaxValue, leaseFor, cancellationToken);

    public async ValueTask<IReadOnlyList<LeasedItem>> LeaseAsync(string queue, int max, long maxBytes, TimeSpan leaseFor, CancellationToken cancellationToken)
    {
        ValidateQueueName(queue);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(leaseFor, TimeSpan.Zero);
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();

        // A lease does not weigh the bodies it takes (a lease of large items never reads them), so Redis cannot stop at
        // the byte limit itself: the store asks for as many items as the sizes this queue's items had so far say fit (one
        // when it knows none yet) and asks again while the limit is not reached. A lease expected to be large is
        // split over the shared connections: Redis sends one client at most 64 KB of replies per turn of its event
        // loop, and with appendfsync always a turn that wrote ends with a disk sync, so the parts arrive side by side.
        var keys = KeysOf(queue);
        var budget = Math.Min(_options.MaxLeaseBytes, maxBytes);
        var leased = new List<LeasedItem>();
        long bytes = 0;
        while (leased.Count < max && bytes < budget)
        {
            var typical = (long)keys.TypicalItemBytes;
            var want = max - leased.Count;
            if (typical <= 0)
            {
                want = 1;
            }
            else
            {
                want = (int)Math.Min(want, ((budget - bytes) + typical - 1) / typical);
            }
            var parts = (int)Math.Clamp(want * Math.Max(1, typical) / LeasePartBytes, 1, Math.Min(_client.Options.SharedConnections, want));
            var granted = parts == 1
                ? await LeasePartAsync(keys, queue, want, leaseFor).ConfigureAwait(false)
                : await LeasePartsAsync(keys, queue, want, parts, leaseFor).ConfigureAwait(false);
            foreach (var item in granted)
            {
                leased.Add(item);
                bytes += item.Body.Length;
            }
            if (granted.Length < want)
            {
                break; // the list ran out (or a slot's lease was lost before it was paired)
            }
        }
        return leased;
    }

    private async Task<LeasedItem[]> LeasePartsAsync(RedisQueueKeys keys, string queue, int want, int parts, TimeSpan leaseFor)
    {
        var leases = new Task<LeasedItem[]>[parts];
        for (var i = 0; i < parts; i++)
        {
            leases[i] = LeasePartAsync(keys, queue, (want / parts) + (i < want % parts ? 1 : 0), leaseFor);
        }
        var granted = await Task.WhenAll(leases).ConfigureAwait(false);
        return [.. granted.SelectMany(part => part)];
    }

    /// <summary>One lease on one connection. Small items are leased by one script that moves, pairs and answers them
    /// (<see cref="RedisQueueScripts.LeaseHere"/>): one call, one disk sync. Large ones, whose bodies a script must not
    /// be handed (Redis' Lua would spend its time hashing them), by a MULTI that leases slots and moves that many
    /// bodies into them, then a second call that pairs each body with its metadata by the digest computed here. A
    /// holder that dies between those two calls leaves slots without metadata, which go back to the list when their
    /// lease expires.</summary>
    private async Task<LeasedItem[]> LeasePartAsync(RedisQueueKeys keys, string queue, int max, TimeSpan leaseFor)
    {
        var firstSlot = await TakeSlotsAsync(max).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        var nowMs = now.ToUnixTimeMilliseconds();
        var expiresMs = (now + leaseFor).ToUnixTimeMilliseconds();
        var items = keys.TypicalItemBytes <= PairHereItemBytes
            ? await LeaseHereAsync(keys, queue, max, firstSlot, nowMs, expiresMs).ConfigureAwait(false)
            : await LeaseLargeAsync(keys, queue, max, firstSlot, nowMs, expiresMs).ConfigureAwait(false);
        // The largest of this part: with sizes that vary, the next lease rather asks for too few than too many.
        var largest = 0;
        foreach (var item in items)
        {
            largest = Math.Max(largest, item.Body.Length);
        }
        if (items.Length > 0)
        {
            keys.TypicalItemBytes = largest;
        }
        return items;
    }

    private async Task<LeasedItem[]> LeaseHereAsync(RedisQueueKeys keys, string queue, int max, long firstSlot, long nowMs, long expiresMs)
    {
        RespValue reply;
        using (var lease = RespRequest.Script(RedisQueueScripts.LeaseHere, keyCount: 4, keysAndArguments: 8 + max, 256 + (24 * max)))
        {
            lease.Add(keys.Name).Add(keys.Leased).Add(keys.Scheduled).Add(_tokensKey)
                .Add(keys.ItemBase).Add(nowMs).Add(expiresMs).Add(_options.SweepLimit);
            AddSlots(lease, firstSlot, max);
            // Once sent the items are leased: the reply is awaited whatever the caller's token says, or they would
            // stay invisible until the lease runs out.
            reply = await _client.ExecuteAsync(lease, CancellationToken.None).ConfigureAwait(false);
        }
        var tokenBase = reply[0].Integer;
        var items = new LeasedItem[(reply.Count - 1) / 2];
        for (var n = 0; n < items.Length; n++)
        {
            items[n] = Leased(queue, RedisItemMeta.Parse(reply[1 + (2 * n)].Span), reply[2 + (2 * n)].Memory, tokenBase + n + 1, expiresMs);
        }
        return items;
    }

    private async Task<LeasedItem[]> LeaseLargeAsync(RedisQueueKeys keys, string queue, int max, long firstSlot, long nowMs, long expiresMs)
    {
        var requests = new RespRequest[3 + max];
        RespValue[] replies;
        try
        {
            requests[0] = RespRequest.Create(1).Add("MULTI"u8);
            var register = RespRequest.Eval(RedisQueueScripts.Lease, keyCount: 4, keysAndArguments: 8 + max, 256 + (24 * max));
            requests[1] = register;
            register.Add(keys.Name).Add(keys.Leased).Add(keys.Scheduled).Add(_tokensKey)
                .Add(keys.ItemBase).Add(nowMs).Add(expiresMs).Add(_options.SweepLimit);
            AddSlots(register, firstSlot, max);
            for (var n = 0; n < max; n++)
            {
                requests[2 + n] = RespRequest.Create(5).Add("LMOVE"u8).Add(keys.Name).Add(keys.BodyBase, firstSlot + n).Add("LEFT"u8).Add("RIGHT"u8);
            }
            requests[^1] = RespRequest.Create(1).Add("EXEC"u8);
            // Once sent the items are leased: the reply is awaited whatever the caller's token says (as above).
            replies = await _client.ExecuteAdjacentAsync(requests, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            foreach (var request in requests)
            {
                request?.Dispose();
            }
        }

        var exec = Executed(replies);
        var registered = ThrowIfError(exec[0]);
        var tokenBase = registered[0].Integer;
        var count = (int)registered[1].Integer;
        if (count == 0)
        {
            return [];
        }

        var bodies = new ReadOnlyMemory<byte>[count];
        for (var n = 0; n < count; n++)
        {
            bodies[n] = exec[1 + n].Memory;
        }
        var metas = await PairAsync(keys, firstSlot, tokenBase, bodies, nowMs, expiresMs).ConfigureAwait(false);
        var items = new List<LeasedItem>(count);
        for (var n = 0; n < count; n++)
        {
            if (!metas[n].IsNull) // else its lease ran out before it was paired: it is back on the list for anybody
            {
                items.Add(Leased(queue, RedisItemMeta.Parse(metas[n].Span), bodies[n], tokenBase + n + 1, expiresMs));
            }
        }
        return [.. items];
    }

    private static LeasedItem Leased(string queue, RedisItemMeta meta, ReadOnlyMemory<byte> body, long token, long expiresMs) => new()
    {
        Id = meta.Id,
        Queue = queue,
        Envelope = meta.Envelope,
        Body = body,
        Attempts = meta.Attempts,
        CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(meta.CreatedAtMs),
        LeaseToken = token,
        LeaseExpiresAt = DateTimeOffset.FromUnixTimeMilliseconds(expiresMs),
    };

    /// <summary>The second call of a lease of large items: pairs each body with its metadata by the digest computed here.</summary>
    private async Task<RespValue> PairAsync(RedisQueueKeys keys, long firstSlot, long tokenBase, ReadOnlyMemory<byte>[] bodies, long nowMs, long expiresMs)
    {
        using var pair = RespRequest.Script(RedisQueueScripts.Pair, keyCount: 1, keysAndArguments: 4 + (3 * bodies.Length), 128 + (80 * bodies.Length));
        pair.Add(keys.Leased).Add(keys.ItemBase).Add(nowMs).Add(expiresMs);
        Span<byte> digest = stackalloc byte[RedisBodyDigest.Length];
        for (var n = 0; n < bodies.Length; n++)
        {
            pair.Add(firstSlot + n).Add(tokenBase + n + 1).Add(digest[..RedisBodyDigest.Compute(bodies[n].Span, digest)]);
        }
        return await _client.ExecuteAsync(pair, CancellationToken.None).ConfigureAwait(false);
    }

    private static void AddSlots(RespRequest request, long firstSlot, int count)
    {
        for (var n = 0; n < count; n++)
        {
            request.Add(firstSlot + n);
        }
    }

    public async ValueTask WaitForItemsAsync(string queue, TimeSpan maxWait, CancellationToken cancellationToken)
    {
        ValidateQueueName(queue);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxWait, TimeSpan.Zero);
        ThrowIfDisposed();

        var start = _time.GetUtcNow();
        var deadline = maxWait >= DateTimeOffset.MaxValue - start ? DateTimeOffset.MaxValue : start + maxWait;
        var watch = _watches.GetOrAdd(queue, static (name, store) => new QueueWatch(store, name), this);
        watch.Enter();
        try
        {
            for (var round = 0; round < MaxWaitRounds; round++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (Volatile.Read(ref _disposed) != 0)
                {
                    return;
                }

                // Take the pulse before reading: anything pushed after the read completes it.
                var pulse = watch.Pulse;
                long? earliestDueMs = null;
                try
                {
                    var (ready, earliest) = await ReadDueStateAsync(queue, cancellationToken).ConfigureAwait(false);
                    if (ready)
                    {
                        return;
                    }
                    earliestDueMs = earliest;
                }
                catch (RedisConnectionException)
                {
                    // Redis is away: wait like an idle queue would; the caller's next lease reports the outage.
                }

                var now = _time.GetUtcNow();
                if (DueTime.NextWake(earliestDueMs, now, deadline) is not { } wakeAt)
                {
                    return;
                }

                using var stopSleeping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
                var timer = Task.Delay(wakeAt - now, _time, stopSleeping.Token);
                await Task.WhenAny(pulse, timer).ConfigureAwait(false);
                await stopSleeping.CancelAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            watch.Leave();
        }
    }

    public async ValueTask CommitAsync(QueueTransaction transaction, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        if (transaction.IsEmpty)
        {
            return;
        }

        var steps = RedisCommitGroups.StepsOf(transaction.Operations);
        foreach (var step in steps)
        {
            if (step.Push is { } push)
            {
                ValidateQueueName(push.Queue);
            }
        }
        // Not cancellable once submitted: the outcome must be definite for the caller's bookkeeping.
        await _commits.CommitAsync(steps).ConfigureAwait(false);

        var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var step in steps)
        {
            if (step.Push is { } push && push.DueMs(nowMs) <= nowMs)
            {
                PulseLocal(push.Queue);
            }
            else if (step.Settle is QueueOperation.Release release)
            {
                PulseLocal(release.Item.Queue);
            }
        }
    }

    public async ValueTask<long> CountAsync(string queue, CancellationToken cancellationToken)
    {
        ValidateQueueName(queue);
        ThrowIfDisposed();
        var keys = KeysOf(queue);
        using var request = RespRequest.Script(RedisQueueScripts.Count, keyCount: 3, keysAndArguments: 3);
        request.Add(keys.Name).Add(keys.Leased).Add(keys.Scheduled);
        return (await _client.ExecuteAsync(request, cancellationToken).ConfigureAwait(false)).Integer;
    }

    /// <summary>
    /// The heartbeat of a holder: moves the lease expiry of <paramref name="items"/> to now + <paramref name="leaseFor"/>,
    /// so a short lease can cover long work while its holder lives, and a holder that dies (kill -9) has its items
    /// back on their queues within one short lease. Returns the ids whose lease is no longer held.
    /// </summary>
    public async ValueTask<IReadOnlyList<LeasedItem>> RenewAsync(IReadOnlyList<LeasedItem> items, TimeSpan leaseFor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(leaseFor, TimeSpan.Zero);
        ThrowIfDisposed();
        if (items.Count == 0)
        {
            return [];
        }
        var expiresMs = (_time.GetUtcNow() + leaseFor).ToUnixTimeMilliseconds();
        using var request = RespRequest.Script(RedisQueueScripts.Renew, keyCount: 0, keysAndArguments: 2 + (3 * items.Count), 64 + (96 * items.Count));
        request.Add(_prefix).Add(expiresMs);
        foreach (var item in items)
        {
            ValidateQueueName(item.Queue);
            request.Add(item.Queue).Add(item.Id).Add(item.LeaseToken);
        }
        var reply = await _client.ExecuteAsync(request, cancellationToken).ConfigureAwait(false);
        // The script answers with the positions of the lost ones: ids alone could name items of two queues.
        var lost = new LeasedItem[reply.Count];
        for (var i = 0; i < lost.Length; i++)
        {
            lost[i] = items[(int)reply[i].Integer];
        }
        return lost;
    }

    /// <summary>Number of ready items only (LLEN of the list), what the original's queue gauges show: leased items and
    /// retries are kept apart from the list until they are due again.</summary>
    public async ValueTask<long> ReadyCountAsync(string queue, CancellationToken cancellationToken)
    {
        ValidateQueueName(queue);
        ThrowIfDisposed();
        using var request = RespRequest.Create(2).Add("LLEN"u8).Add(KeysOf(queue).Name);
        return (await _client.ExecuteAsync(request, cancellationToken).ConfigureAwait(false)).Integer;
    }

    public async ValueTask<IReadOnlyList<DeadLetteredItem>> ReadDeadLettersAsync(string queue, int max, CancellationToken cancellationToken)
    {
        ValidateQueueName(queue);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        ThrowIfDisposed();
        var keys = KeysOf(queue);
        using var request = RespRequest.Script(RedisQueueScripts.DeadLetters, keyCount: 1, keysAndArguments: 3);
        request.Add(keys.Dead).Add(keys.ItemBase).Add(max);
        var reply = await _client.ExecuteAsync(request, cancellationToken).ConfigureAwait(false);
        var fields = reply.Items;
        var items = new List<DeadLetteredItem>(fields.Length / 4);
        for (var i = 0; i + 3 < fields.Length; i += 4)
        {
            var meta = RedisItemMeta.Parse(fields[i].Span);
            items.Add(new DeadLetteredItem(
                meta.Id,
                queue,
                meta.Envelope,
                fields[i + 1].Memory,
                fields[i + 2].ToString() ?? "",
                meta.Attempts,
                DateTimeOffset.FromUnixTimeMilliseconds(meta.CreatedAtMs),
                DateTimeOffset.FromUnixTimeMilliseconds(fields[i + 3].Integer)));
        }
        return items;
    }

    public async ValueTask<int> ReplayDeadLettersAsync(string queue, int max, CancellationToken cancellationToken)
    {
        ValidateQueueName(queue);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        ThrowIfDisposed();
        var keys = KeysOf(queue);
        using var request = RespRequest.Script(RedisQueueScripts.Revive, keyCount: 1, keysAndArguments: 4);
        request.Add(keys.Dead).Add(keys.ItemBase).Add(queue).Add(max);
        var revived = (int)(await _client.ExecuteAsync(request, cancellationToken).ConfigureAwait(false)).Integer;
        PulseLocal(queue);
        return revived;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _disposing.CancelAsync().ConfigureAwait(false);
        foreach (var watch in _watches.Values)
        {
            watch.Wake();
        }
        // Commits already submitted are finished, not dropped: their callers are waiting for a definite outcome.
        await _commits.DisposeAsync().ConfigureAwait(false);
        if (_ownsClient)
        {
            await _client.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The first of <paramref name="count"/> fresh ids for lease slots, from a block taken off the shared
    /// counter (the same one item ids come from, so a slot never shares an item's keys).</summary>
    private async ValueTask<long> TakeSlotsAsync(int count)
    {
        lock (_slotLock)
        {
            if (_endSlot - _nextSlot >= count)
            {
                var first = _nextSlot;
                _nextSlot += count;
                return first;
            }
        }
        var block = Math.Max(count, SlotBlock);
        using var request = RespRequest.Create(3).Add("INCRBY"u8).Add(_idsKey).Add(block);
        var last = (await _client.ExecuteAsync(request, CancellationToken.None).ConfigureAwait(false)).Integer;
        lock (_slotLock)
        {
            // A block taken meanwhile by a concurrent lease is dropped: ids need only be unique.
            _nextSlot = last - block + 1 + count;
            _endSlot = last + 1;
        }
        return last - block + 1;
    }

    /// <summary>The EXEC reply of a MULTI sent as adjacent requests. A transaction refused before it ran is reported
    /// by the refusal of the command that caused it, so that BUSY or LOADING stay recognisably transient.</summary>
    internal static RespValue Executed(RespValue[] replies)
    {
        var exec = replies[^1];
        if (!exec.IsError)
        {
            return exec;
        }
        foreach (var reply in replies.AsSpan(0, replies.Length - 1))
        {
            ThrowIfError(reply);
        }
        throw new RedisServerException(exec.ToString() ?? "error");
    }

    private static RespValue ThrowIfError(RespValue reply) =>
        reply.IsError ? throw new RedisServerException(reply.ToString() ?? "error") : reply;

    private async Task<(bool Ready, long? EarliestDueMs)> ReadDueStateAsync(string queue, CancellationToken cancellationToken)
    {
        var keys = KeysOf(queue);
        using var request = RespRequest.Script(RedisQueueScripts.DueState, keyCount: 3, keysAndArguments: 3);
        request.Add(keys.Name).Add(keys.Leased).Add(keys.Scheduled);
        var reply = await _client.ExecuteAsync(request, cancellationToken).ConfigureAwait(false);
        if (reply[0].Integer > 0)
        {
            return (true, null);
        }
        return (false, reply.Count > 1 ? reply[1].Integer : null);
    }

    private void PulseLocal(string queue)
    {
        if (_watches.TryGetValue(queue, out var watch))
        {
            watch.Wake();
        }
    }

    private RedisQueueKeys KeysOf(string queue) =>
        _keys.GetOrAdd(queue, static (name, prefix) => new RedisQueueKeys(prefix, name), _options.KeyPrefix);

    private static void ValidateQueueName(string queue)
    {
        ArgumentException.ThrowIfNullOrEmpty(queue);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(queue.Length, 512, nameof(queue));
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>
    /// Wakes the waiters on one queue. While anybody waits, one loop per queue and store blocks in
    /// <c>BLMOVE Q Q LEFT LEFT</c>, which takes nothing (it moves the head back onto the head) but returns
    /// as soon as the list is not empty, whoever pushed: our processes or the original modules.
    /// </summary>
    private sealed class QueueWatch(RedisQueueStore store, string queue)
    {
        private readonly Lock _lock = new();
        private readonly byte[] _name = Encoding.UTF8.GetBytes(queue);
        private TaskCompletionSource _pulse = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _waiters;
        private bool _watching;

        public Task Pulse
        {
            get
            {
                lock (_lock)
                {
                    return _pulse.Task;
                }
            }
        }

        public void Enter()
        {
            lock (_lock)
            {
                _waiters++;
                if (_watching)
                {
                    return;
                }
                _watching = true;
            }
            _ = Task.Run(WatchAsync);
        }

        public void Leave()
        {
            lock (_lock)
            {
                _waiters--;
            }
        }

        public void Wake()
        {
            TaskCompletionSource fired;
            lock (_lock)
            {
                fired = _pulse;
                _pulse = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            fired.TrySetResult();
        }

        private async Task WatchAsync()
        {
            var seconds = store._options.BlockInterval.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
            var pause = store._client.Options.MinReconnectDelay;
            // Runs while somebody waits; each round is one bounded blocking call or one bounded pause.
            while (true)
            {
                lock (_lock)
                {
                    if (_waiters == 0 || store._disposing.IsCancellationRequested)
                    {
                        _watching = false;
                        return;
                    }
                }
                try
                {
                    using var request = RespRequest.Create(6).Add("BLMOVE"u8).Add(_name).Add(_name).Add("LEFT"u8).Add("LEFT"u8).Add(seconds);
                    var moved = await store._client.ExecuteBlockingAsync(request, store._options.BlockInterval, store._disposing.Token).ConfigureAwait(false);
                    pause = store._client.Options.MinReconnectDelay;
                    if (!moved.IsNull)
                    {
                        Wake();
                    }
                }
                catch (OperationCanceledException) when (store._disposing.IsCancellationRequested)
                {
                    // Store closing: the top of the loop ends it.
                }
                catch (Exception e) when (e is RedisConnectionException or RedisServerException or ObjectDisposedException)
                {
                    // Waiters re-read and pass the outage on; this loop retries after a growing pause.
                    Wake();
                    try
                    {
                        await Task.Delay(pause, store._disposing.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        // closing
                    }
                    pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, store._client.Options.MaxReconnectDelay.Ticks));
                }
            }
        }
    }
}
