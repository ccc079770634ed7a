using System.Net;
using ManycoreMail.Delivery;
using ManycoreMail.Dns;
using ManycoreMail.Metrics;
using ManycoreMail.Queue.Redis;
using ManycoreMail.Roles.Sender;
using ManycoreMail.Smtp.Client;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace ManycoreMail.Tests.Sender;

/// <summary>Sender processes on one Redis keep to a site's limits together: connections, rates and warm-up caps.</summary>
public sealed class SharedLimitsTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Two_senders_hold_to_one_connection_limit_and_a_dead_senders_slots_come_back_after_its_lease()
    {
        using var redis = await RedisServer.StartAsync();
        await using var peer = RecordingSmtpPeer.Start(IPAddress.Loopback, 0);
        var options = Options(peer, SiteLimits.Default with { MaxConnections = 2 });
        var lease = TimeSpan.FromSeconds(10);
        await using var a = await ClusterSender.StartAsync(redis, options, lease);
        await using var b = await ClusterSender.StartAsync(redis, options, lease);
        await using var inspect = new RedisClient(new RedisClientOptions { Host = redis.Host, Port = redis.Port });
        var slotsKey = "mm:limits:conn:relay:127.0.0.1:" + peer.EndPoint.Port;

        peer.Hold();
        var first = Enumerable.Range(0, 4).Select(i => a.DeliverAsync($"a{i}@x.test")).ToArray();
        await Eventually.TrueAsync(() => peer.Open == 2, Deadline, "the first sender's two connections");
        var second = Enumerable.Range(0, 4).Select(i => b.DeliverAsync($"b{i}@x.test")).ToArray();
        await Eventually.TrueAsync(() => b.Limits.Waits("connection") >= 2, Deadline, "the second sender to be refused slots");
        Assert.Equal(2, peer.MaxOpen);

        await a.DieAsync();
        peer.Release();
        var leftBehind = await inspect.ExecuteAsync(CancellationToken.None, "ZRANGE", slotsKey, "0", "-1");
        Assert.Equal(2, leftBehind.Count);
        Assert.All(leftBehind.Items.ToArray(), m => Assert.StartsWith(a.Limits.Instance + "#", m.ToString(), StringComparison.Ordinal));

        var outcomes = (await Task.WhenAll(second).WaitAsync(Deadline)).SelectMany(o => o).ToArray();
        Assert.Equal(4, outcomes.Length);
        Assert.All(outcomes, o => Assert.IsType<RecipientOutcome.Delivered>(o));
        Assert.Equal(2, peer.MaxOpen);
        await Task.WhenAll(first.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
    }

    [Fact]
    public async Task A_rate_of_three_an_hour_lets_three_through_across_two_senders_and_reschedules_the_rest()
    {
        using var redis = await RedisServer.StartAsync();
        await using var peer = RecordingSmtpPeer.Start(IPAddress.Loopback, 0);
        var options = Options(peer, SiteLimits.Default with { MessagesPerHour = 3 }) with { MaxRateWait = TimeSpan.FromSeconds(1) };
        await using var a = await ClusterSender.StartAsync(redis, options, RedisSiteLimitCoordinator.DefaultLease);
        await using var b = await ClusterSender.StartAsync(redis, options, RedisSiteLimitCoordinator.DefaultLease);
        var outcomes = await DeliverFromBothAsync(a, b);

        // Alone, each sender would have let three through.
        Assert.Equal(3, outcomes.OfType<RecipientOutcome.Delivered>().Count());
        Assert.Equal(3, peer.MessageCount);
        var deferred = outcomes.OfType<RecipientOutcome.Deferred>().ToArray();
        Assert.Equal(5, deferred.Length);
        Assert.All(deferred, d => Assert.Contains("rate limit", d.Reason, StringComparison.Ordinal));
        Assert.All(deferred, d => Assert.True(d.NotBefore > DateTimeOffset.UtcNow + TimeSpan.FromMinutes(5), "rescheduled for when the bucket has a token"));
        Assert.True(a.Limits.Waits("rate") + b.Limits.Waits("rate") >= 5);
    }

    [Fact]
    public async Task A_busy_sender_takes_rate_tokens_in_batches_not_one_round_trip_per_message()
    {
        using var redis = await RedisServer.StartAsync();
        await using var peer = RecordingSmtpPeer.Start(IPAddress.Loopback, 0);
        var options = Options(peer, SiteLimits.Default with { MaxConnections = 4, MessagesPerSecond = 1000 });
        await using var a = await ClusterSender.StartAsync(redis, options, RedisSiteLimitCoordinator.DefaultLease);
        const int messages = 200;

        var outcomes = (await Task.WhenAll(Enumerable.Range(0, messages).Select(i => a.DeliverAsync($"r{i}@x.test"))).WaitAsync(Deadline)).SelectMany(o => o).ToArray();

        Assert.All(outcomes, o => Assert.IsType<RecipientOutcome.Delivered>(o));
        output.WriteLine($"{a.Limits.RoundTrips} Redis round trips for {messages} messages ({(double)a.Limits.RoundTrips / messages:0.###} a message)");
        // Connection slots cost a trip each (a few); tokens come up to 32 at a time.
        Assert.True(a.Limits.RoundTrips <= messages / 4, $"{a.Limits.RoundTrips} round trips for {messages} messages");
    }

    [Fact]
    public async Task Two_senders_together_never_pass_a_warm_up_cap()
    {
        using var redis = await RedisServer.StartAsync();
        await using var peer = RecordingSmtpPeer.Start(IPAddress.Loopback, 0);
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var warming = new EgressSource("warm", IPAddress.Loopback, "mailer.test", WarmUp: new WarmUpSchedule(today, [new WarmUpStep(1, 3), new WarmUpStep(30, 1000)]));
        var options = Options(peer, SiteLimits.Default) with { Egress = new EgressOptions([new EgressPool("p", [warming])], [], "p") };
        await using var a = await ClusterSender.StartAsync(redis, options, RedisSiteLimitCoordinator.DefaultLease);
        await using var b = await ClusterSender.StartAsync(redis, options, RedisSiteLimitCoordinator.DefaultLease);
        var outcomes = await DeliverFromBothAsync(a, b);

        Assert.Equal(3, outcomes.OfType<RecipientOutcome.Delivered>().Count());
        Assert.Equal(3, peer.MessageCount);
        Assert.All(outcomes.OfType<RecipientOutcome.Deferred>(), d => Assert.Contains("warm-up cap", d.Reason, StringComparison.Ordinal));
        await using var inspect = new RedisClient(new RedisClientOptions { Host = redis.Host, Port = redis.Port });
        var counted = await inspect.ExecuteAsync(CancellationToken.None, "GET", $"mm:warmup:{today:yyyy-MM-dd}:warm:other");
        Assert.Equal("3", counted.ToString());
    }

    [Fact]
    public async Task While_redis_is_away_each_sender_keeps_to_its_share_and_delivery_goes_on_then_sharing_resumes()
    {
        using var redis = await RedisServer.StartAsync();
        await using var peer = RecordingSmtpPeer.Start(IPAddress.Loopback, 0);
        var options = Options(peer, SiteLimits.Default with { MaxConnections = 2 });
        // Leases long enough that neither sender's registration lapses while the suite keeps the machine busy: with
        // b uncounted, a's share would be both connections.
        await using var a = await ClusterSender.StartAsync(redis, options, RedisSiteLimitCoordinator.DefaultLease);
        await using var b = await ClusterSender.StartAsync(redis, options, RedisSiteLimitCoordinator.DefaultLease);
        // Both senders counted: each one's share of two connections is one.
        await a.Limits.HeartbeatAsync(CancellationToken.None);
        Assert.Equal(2, a.Limits.Senders);

        redis.Kill();
        // The count the fallback divides by is the last one Redis gave (a's heartbeat may have run again meanwhile).
        Assert.Equal(2, a.Limits.Senders);
        peer.Hold();
        var held = Enumerable.Range(0, 3).Select(i => a.DeliverAsync($"a{i}@x.test")).ToArray();
        await Eventually.TrueAsync(() => a.Limits.IsInFallback && peer.Open == 1 && a.Limits.Waits("connection") >= 1, Deadline,
            "one connection (the sender's share) while Redis is away");
        Assert.Equal(1, peer.MaxOpen);
        peer.Release();
        var outcomes = (await Task.WhenAll(held).WaitAsync(Deadline)).SelectMany(o => o).ToArray();
        Assert.All(outcomes, o => Assert.IsType<RecipientOutcome.Delivered>(o));

        await redis.RestartAsync();
        await Eventually.TrueAsync(() => !a.Limits.IsInFallback, Deadline, "the limits to be shared again");
        var after = await a.DeliverAsync("again@x.test").WaitAsync(Deadline);
        Assert.IsType<RecipientOutcome.Delivered>(Assert.Single(after));
    }

    /// <summary>Four messages from each sender at once, and what became of them.</summary>
    private static async Task<RecipientOutcome[]> DeliverFromBothAsync(ClusterSender a, ClusterSender b) =>
        (await Task.WhenAll(Enumerable.Range(0, 4).SelectMany(i => new[] { a.DeliverAsync($"a{i}@x.test"), b.DeliverAsync($"b{i}@x.test") }))
            .WaitAsync(Deadline)).SelectMany(o => o).ToArray();

    private static DeliveryOptions Options(RecordingSmtpPeer peer, SiteLimits limits) => new()
    {
        Relay = new RelayRoute("127.0.0.1", peer.EndPoint.Port, SmtpTlsMode.None, null, null),
        DefaultLimits = limits,
        ShapingRules = [],
        AdaptiveRules = [],
        ConnectTimeout = TimeSpan.FromSeconds(30),
        IdleTimeout = TimeSpan.FromSeconds(1),
        MaxRateWait = TimeSpan.FromSeconds(60),
    };

    /// <summary>A delivery engine wired as the sender role wires it on Redis: shared site limits and warm-up counts, and
    /// the heartbeat running.</summary>
    private sealed class ClusterSender : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stopping = new();
        private readonly DnsResolver _resolver;
        private readonly RedisClient _client;
        private Task _heartbeat = Task.CompletedTask;

        private ClusterSender(RedisServer redis, DeliveryOptions options, TimeSpan lease)
        {
            _client = new RedisClient(new RedisClientOptions { Host = redis.Host, Port = redis.Port, CommandTimeout = TimeSpan.FromSeconds(2) });
            Limits = new RedisSiteLimitCoordinator(_client, "mm:", lease, TimeProvider.System, NullLogger.Instance, new MetricsRegistry());
            _resolver = new DnsResolver(DnsResolverOptions.FromServers(["127.0.0.1:9"]), TimeProvider.System);
            Engine = new DeliveryEngine(options, "mailer.test", 25, new MailRouter(_resolver), new SenderMetrics(new MetricsRegistry()), TimeProvider.System,
                NullLogger<DeliveryEngine>.Instance, new EgressServices(null, null, new RedisWarmUpCounts(Limits, "mm:")), sharedLimits: Limits);
        }

        public RedisSiteLimitCoordinator Limits { get; }

        public DeliveryEngine Engine { get; }

        public static async Task<ClusterSender> StartAsync(RedisServer redis, DeliveryOptions options, TimeSpan lease)
        {
            var sender = new ClusterSender(redis, options, lease);
            await sender.Limits.HeartbeatAsync(CancellationToken.None);
            sender._heartbeat = sender.Limits.RunAsync(sender._stopping.Token);
            return sender;
        }

        public Task<IReadOnlyList<RecipientOutcome>> DeliverAsync(string recipient) =>
            Engine.DeliverAsync("q", "x.test", [recipient], "s@mailer.test", "Subject: t\r\n\r\nbody\r\n"u8.ToArray(), CancellationToken.None);

        /// <summary>As a process that dies: its heartbeat and Redis connection go first, then its connections; nothing is
        /// given back to Redis.</summary>
        public async Task DieAsync()
        {
            await StopHeartbeatAsync();
            await _client.DisposeAsync();
            Engine.Stop();
        }

        private async Task StopHeartbeatAsync()
        {
            await _stopping.CancelAsync();
            try
            {
                await _heartbeat;
            }
            catch (OperationCanceledException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            await StopHeartbeatAsync();
            Engine.Dispose();
            _resolver.Dispose();
            await Limits.DisposeAsync();
            _stopping.Dispose();
        }
    }
}
