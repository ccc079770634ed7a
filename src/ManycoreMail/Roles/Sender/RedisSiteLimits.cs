using System.Collections.Concurrent;
using ManycoreMail.Delivery;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Redis;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Sender;

/// <summary>
/// Sites' limits shared by every sender process on one Redis (<c>--queue redis</c>): connection slots as leases in a
/// sorted set per site, rates as token buckets, both in Lua scripts that read the server's clock (<c>TIME</c>), so that
/// pods whose clocks drift apart still share one bucket exactly. A heartbeat renews this process's leases and counts the
/// live senders; a dead process's slots come back when its leases lapse. While Redis does not answer, each sender keeps
/// to its share of every limit (the limit divided by the senders last counted): delivery goes on, the cluster stays
/// within its limits as long as the count holds.
/// </summary>
internal sealed class RedisSiteLimitCoordinator : ISiteLimitCoordinator, IAsyncDisposable
{
    /// <summary>How long a connection slot outlives its last heartbeat; renewed every third of it.</summary>
    public static readonly TimeSpan DefaultLease = TimeSpan.FromSeconds(30);

    private readonly RedisClient _redis;
    private readonly string _prefix;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    /// <summary>Every slot held here, member to its site's key: what the heartbeat renews.</summary>
    private readonly ConcurrentDictionary<string, string> _held = new(StringComparer.Ordinal);
    private readonly LabelledCounter _waits;
    private readonly Counter _roundTrips;
    private long _nextSlot;
    private int _senders = 1;
    private int _fallback;

    public RedisSiteLimitCoordinator(RedisClient redis, string keyPrefix, TimeSpan lease, TimeProvider time, ILogger logger, MetricsRegistry metrics)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(lease, TimeSpan.FromSeconds(1));
        _redis = redis;
        _prefix = keyPrefix + "limits:";
        Lease = lease;
        _time = time;
        _logger = logger;
        Instance = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..8]}";
        _waits = metrics.Family(new LabelledCounter("sender_cluster_limit_waits_total",
            "Times a limit shared by the sender processes made a delivery wait, per kind (connection, rate, warmup).", "kind"));
        _roundTrips = metrics.Counter("sender_cluster_limit_round_trips_total",
            "Redis round trips made for shared limits (connection slots, rate tokens, warm-up counts; heartbeats excluded).");
        metrics.Gauge("sender_cluster_limit_fallback", "1 while Redis does not answer and each sender keeps to its share of every limit alone.",
            () => IsInFallback ? 1 : 0);
    }

    /// <summary>This process among the senders: host, process id and a random part (two runs never share leases).</summary>
    public string Instance { get; }

    public TimeSpan Lease { get; }

    /// <summary>The senders counted by the last heartbeat (at least 1): each one's share of a limit while Redis is away.</summary>
    public int Senders => Volatile.Read(ref _senders);

    /// <summary>True while Redis does not answer: shared limits are not asked, each sender keeps to its share.</summary>
    public bool IsInFallback => Volatile.Read(ref _fallback) == 1;

    public long RoundTrips => _roundTrips.Value;

    /// <summary>Times a shared limit of this <paramref name="kind"/> (connection, rate, warmup) made a delivery wait.</summary>
    public long Waits(string kind) => _waits.Value(kind);

    public ISharedSiteLimits? Join(string site, SiteLimits limits) => new RedisSiteLimits(this, site, limits, _time);

    internal string Key(string kind, string site) => _prefix + kind + ":" + site;

    internal string NewMember() => Instance + "#" + Interlocked.Increment(ref _nextSlot);

    internal void Hold(string member, string key) => _held[member] = key;

    internal void CountWait(string kind) => _waits.Increment(kind);

    /// <summary>Runs one script; null when Redis does not answer (and the fallback begins).</summary>
    internal async ValueTask<RespValue?> TryRunAsync(RespRequest request, CancellationToken cancellationToken)
    {
        try
        {
            _roundTrips.Increment();
            return await _redis.ExecuteAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is QueueUnavailableException or QueueStoreException or ObjectDisposedException && !cancellationToken.IsCancellationRequested)
        {
            EnterFallback(e);
            return null;
        }
    }

    /// <summary>Gives a slot back: at once when Redis answers, else when its lease lapses.</summary>
    internal async ValueTask ReleaseAsync(string member)
    {
        if (!_held.TryRemove(member, out var key) || IsInFallback)
        {
            return;
        }
        using var request = RespRequest.Create(3).Add("ZREM").Add(key).Add(member);
        await TryRunAsync(request, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>The heartbeat, until stopped: every third of the lease (every second while Redis is away, so the shared
    /// limits come back soon after it does).</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            await HeartbeatAsync(stopping).ConfigureAwait(false);
            var pause = IsInFallback ? TimeSpan.FromTicks(Math.Min(Lease.Ticks / 3, TimeSpan.TicksPerSecond)) : Lease / 3;
            await Task.Delay(pause, _time, stopping).ConfigureAwait(false);
        }
    }

    /// <summary>Renews every lease held here (and records slots taken while Redis was away) and counts the live senders.</summary>
    public async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        var held = _held.ToArray();
        using var request = RespRequest.Script(RedisSiteLimitScripts.Heartbeat, 1 + held.Length, 3 + 2 * held.Length);
        request.Add(_prefix + "senders");
        foreach (var (_, key) in held)
        {
            request.Add(key);
        }
        request.Add((long)Lease.TotalMilliseconds).Add(Instance);
        foreach (var (member, _) in held)
        {
            request.Add(member);
        }
        try
        {
            var senders = await _redis.ExecuteAsync(request, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _senders, (int)Math.Max(1, senders.Integer));
            if (Interlocked.Exchange(ref _fallback, 0) == 1)
            {
                _logger.LogInformation("Redis answers again: site limits are shared by the {Senders} sender(s) once more", Senders);
            }
        }
        catch (Exception e) when (e is QueueUnavailableException or QueueStoreException or ObjectDisposedException && !cancellationToken.IsCancellationRequested)
        {
            EnterFallback(e);
        }
    }

    private void EnterFallback(Exception e)
    {
        if (Interlocked.Exchange(ref _fallback, 1) == 0)
        {
            _logger.LogWarning("Redis does not answer for the shared site limits ({Error}): each sender keeps to 1/{Senders} of every limit until it does",
                e.Message, Senders);
        }
    }

    public ValueTask DisposeAsync() => _redis.DisposeAsync();
}

/// <summary>One site's shared limits, with this process's share of them for when Redis does not answer.</summary>
internal sealed class RedisSiteLimits : ISharedSiteLimits
{
    /// <summary>Rate tokens taken ahead are used within this time or dropped (never given back: the cluster stays within
    /// its rate, at worst a little under it).</summary>
    private static readonly TimeSpan TokenLife = TimeSpan.FromSeconds(2);
    private const int MaxBatch = 32;

    private readonly RedisSiteLimitCoordinator _cluster;
    private readonly SiteLimits _limits;
    private readonly TimeProvider _time;
    private readonly string _connectionsKey;
    private readonly (string Key, int Capacity, long PeriodMs)[] _buckets;
    private readonly int _batch;
    private readonly Lock _lock = new();
    private int _tokens;
    private DateTimeOffset _tokensUntil;
    private int _open;
    private SiteRateLimiter? _fallbackRate;
    private int _fallbackSenders;

    public RedisSiteLimits(RedisSiteLimitCoordinator cluster, string site, SiteLimits limits, TimeProvider time)
    {
        _cluster = cluster;
        _limits = limits;
        _time = time;
        _connectionsKey = cluster.Key("conn", site);
        var buckets = new List<(string, int, long)>(4);
        if (limits.MessagesPerSecond is { } s) buckets.Add((cluster.Key("rate-s", site), s, 1000));
        if (limits.MessagesPerMinute is { } m) buckets.Add((cluster.Key("rate-m", site), m, 60_000));
        if (limits.MessagesPerHour is { } h) buckets.Add((cluster.Key("rate-h", site), h, 3_600_000));
        // A delay between deliveries is a bucket of one refilled over the delay.
        if (limits.DelayBetweenDeliveries is { } d) buckets.Add((cluster.Key("rate-d", site), 1, Math.Max(1, (long)d.TotalMilliseconds)));
        _buckets = [.. buckets];
        // Taking a tenth of the smallest bucket at once keeps round trips few and the buckets fairly shared.
        _batch = _buckets.Length == 0 ? 1 : Math.Clamp(_buckets.Min(b => b.Capacity) / 10, 1, MaxBatch);
    }

    public async ValueTask<IAsyncDisposable?> TryOpenConnectionAsync(int maxConnections, CancellationToken cancellationToken)
    {
        var member = _cluster.NewMember();
        if (!_cluster.IsInFallback)
        {
            using var request = RespRequest.Script(RedisSiteLimitScripts.Acquire, 1, 4)
                .Add(_connectionsKey).Add(member).Add(maxConnections).Add((long)_cluster.Lease.TotalMilliseconds);
            if (await _cluster.TryRunAsync(request, cancellationToken).ConfigureAwait(false) is { } reply)
            {
                if (reply.Integer != 1)
                {
                    _cluster.CountWait("connection");
                    return null;
                }
                return Opened(member);
            }
        }
        lock (_lock)
        {
            // Checked and counted in one step: workers that found Redis away at once must not all pass.
            if (Volatile.Read(ref _open) >= Math.Max(1, maxConnections / _cluster.Senders))
            {
                _cluster.CountWait("connection");
                return null;
            }
            Interlocked.Increment(ref _open);
        }
        return Held(member);
    }

    private Slot Opened(string member)
    {
        Interlocked.Increment(ref _open);
        return Held(member);
    }

    private Slot Held(string member)
    {
        // Held also when taken while Redis was away: the heartbeat records it once Redis answers.
        _cluster.Hold(member, _connectionsKey);
        return new Slot(this, member);
    }

    public async ValueTask<TimeSpan> TakeDeliveryAsync(int waiting, CancellationToken cancellationToken)
    {
        if (_buckets.Length == 0)
        {
            return TimeSpan.Zero;
        }
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (_tokens > 0 && now < _tokensUntil)
            {
                _tokens--;
                return TimeSpan.Zero;
            }
            _tokens = 0;
        }
        if (!_cluster.IsInFallback)
        {
            using var request = RespRequest.Script(RedisSiteLimitScripts.Take, _buckets.Length, 1 + 3 * _buckets.Length);
            foreach (var bucket in _buckets)
            {
                request.Add(bucket.Key);
            }
            request.Add(Math.Clamp(waiting, 1, _batch));
            foreach (var bucket in _buckets)
            {
                request.Add(bucket.Capacity).Add(bucket.PeriodMs);
            }
            if (await _cluster.TryRunAsync(request, cancellationToken).ConfigureAwait(false) is { } reply)
            {
                var granted = reply[0].Integer;
                if (granted > 0)
                {
                    lock (_lock)
                    {
                        _tokens += (int)granted - 1;
                        _tokensUntil = now + TokenLife;
                    }
                    return TimeSpan.Zero;
                }
                _cluster.CountWait("rate");
                return TimeSpan.FromMilliseconds(Math.Max(1, reply[1].Integer));
            }
        }
        TimeSpan wait;
        lock (_lock)
        {
            var senders = _cluster.Senders;
            if (_fallbackRate is null || _fallbackSenders != senders)
            {
                _fallbackRate = new SiteRateLimiter(Share(_limits, senders));
                _fallbackSenders = senders;
            }
            wait = _fallbackRate.TryAcquire(now);
        }
        if (wait > TimeSpan.Zero)
        {
            _cluster.CountWait("rate");
        }
        return wait;
    }

    /// <summary>One sender's share of the rates when <paramref name="senders"/> share them (at least one a window).</summary>
    internal static SiteLimits Share(SiteLimits limits, int senders) => limits with
    {
        MessagesPerSecond = limits.MessagesPerSecond is { } s ? Math.Max(1, s / senders) : null,
        MessagesPerMinute = limits.MessagesPerMinute is { } m ? Math.Max(1, m / senders) : null,
        MessagesPerHour = limits.MessagesPerHour is { } h ? Math.Max(1, h / senders) : null,
        DelayBetweenDeliveries = limits.DelayBetweenDeliveries * senders,
    };

    private sealed class Slot(RedisSiteLimits site, string member) : IAsyncDisposable
    {
        private int _released;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _released, 1) == 1)
            {
                return;
            }
            Interlocked.Decrement(ref site._open);
            await site._cluster.ReleaseAsync(member).ConfigureAwait(false);
        }
    }
}

/// <summary>The Lua scripts of shared site limits. Times are the server's (<c>TIME</c>, in milliseconds): one clock
/// for every sender; Redis 7 replicates a script's effects, so reading the clock in one is allowed.</summary>
internal static class RedisSiteLimitScripts
{
    private const string Now = """
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

        """;

    /// <summary>KEYS[1] the site's slots (member: process and slot, score: lease end); ARGV member, max, lease ms.
    /// Lapsed leases (dead processes) are dropped first. 1 when the slot is taken, 0 when all are.</summary>
    public static readonly RedisScript Acquire = new(Now + """
        local lease = tonumber(ARGV[3])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
          return 0
        end
        redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
        redis.call('PEXPIRE', KEYS[1], lease * 2)
        return 1
        """);

    /// <summary>KEYS the site's buckets; ARGV[1] tokens wanted, then capacity and refill period (ms, for the whole
    /// capacity) of each. Takes as many as every bucket has (up to the wanted), or none: {granted, ms until one}.</summary>
    public static readonly RedisScript Take = new(Now + """
        local grant = tonumber(ARGV[1])
        local wait = 0
        local levels = {}
        for i = 1, #KEYS do
          local capacity = tonumber(ARGV[i * 2])
          local period = tonumber(ARGV[i * 2 + 1])
          local state = redis.call('HMGET', KEYS[i], 'tokens', 'at')
          local tokens = tonumber(state[1]) or capacity
          local at = tonumber(state[2]) or now
          if now > at then
            tokens = math.min(capacity, tokens + (now - at) * capacity / period)
          end
          levels[i] = tokens
          if tokens < 1 then
            grant = 0
            wait = math.max(wait, math.ceil((1 - tokens) * period / capacity))
          elseif math.floor(tokens) < grant then
            grant = math.floor(tokens)
          end
        end
        if grant > 0 then
          for i = 1, #KEYS do
            redis.call('HSET', KEYS[i], 'tokens', tostring(levels[i] - grant), 'at', tostring(now))
            redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[i * 2 + 1]) * 2)
          end
        end
        return {grant, wait}
        """);

    /// <summary>KEYS[1] the live senders, then the key of each held slot; ARGV lease ms, this sender, then each slot's
    /// member. Renews (or records again, after an outage) every slot; returns how many senders live.</summary>
    public static readonly RedisScript Heartbeat = new(Now + """
        local lease = tonumber(ARGV[1])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
        redis.call('PEXPIRE', KEYS[1], lease * 2)
        for i = 2, #KEYS do
          redis.call('ZADD', KEYS[i], now + lease, ARGV[i + 1])
          redis.call('PEXPIRE', KEYS[i], lease * 2)
        end
        return redis.call('ZCARD', KEYS[1])
        """);
}
