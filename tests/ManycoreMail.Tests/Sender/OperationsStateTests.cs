using ManycoreMail.Delivery;
using ManycoreMail.Dns;
using ManycoreMail.Metrics;
using ManycoreMail.Queue.Redis;
using ManycoreMail.Roles.Sender;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.Tests.Sender;

/// <summary>Suspensions and bounces outlive the process (SQLite beside the spool) and reach every sender of a cluster (Redis).</summary>
public sealed class OperationsStateTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Embedded_spool_keeps_queue_suspensions_and_bounces_across_a_restart_and_honours_expiry()
    {
        var directory = Directory.CreateTempSubdirectory("mm-ops-").FullName;
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000));
        try
        {
            await using (var first = await RunningEngine.StartAsync(SqliteDeliveryStateStore.Open(directory), time))
            {
                first.Engine.SuspendQueue("spring:*");
                first.Engine.SuspendQueue("held:acme@x.test");
                first.Engine.ResumeQueue("held:acme@x.test");
                first.Engine.BounceQueue("gone:*", TimeSpan.FromHours(1));
                first.Engine.BounceQueue("brief:*", TimeSpan.FromMinutes(1));
                await Eventually.TrueAsync(async () => (await first.Store.LoadAsync(time.GetUtcNow(), CancellationToken.None)).Count == 3, Deadline, "three entries stored");
            }
            time.Advance(TimeSpan.FromMinutes(2));

            await using var second = await RunningEngine.StartAsync(SqliteDeliveryStateStore.Open(directory), time);

            Assert.True(second.Engine.IsQueueSuspended("spring:acme@x.test"));
            Assert.False(second.Engine.IsQueueSuspended("held:acme@x.test"));
            Assert.Equal(["gone:*"], second.Engine.BouncedQueues.Select(b => b.Key));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task On_redis_a_suspension_made_in_one_sender_holds_in_the_other_and_survives_a_restart()
    {
        using var redis = await RedisServer.StartAsync();
        var options = new RedisClientOptions { Host = redis.Host, Port = redis.Port };
        await using var a = await RunningEngine.StartAsync(new RedisDeliveryStateStore(new RedisClient(options), "mm:"), TimeProvider.System);
        await using var b = await RunningEngine.StartAsync(new RedisDeliveryStateStore(new RedisClient(options), "mm:"), TimeProvider.System);

        a.Engine.SuspendQueue("spring:*");
        await Eventually.TrueAsync(() => b.Engine.IsQueueSuspended("spring:acme@x.test"), Deadline, "the other sender to hold the queue");
        b.Engine.BounceQueue("gone:*", TimeSpan.FromHours(1));
        await Eventually.TrueAsync(() => a.Engine.BouncedQueues.Any(q => q.Key == "gone:*"), Deadline, "the bounce to reach the first sender");

        await using (var restarted = await RunningEngine.StartAsync(new RedisDeliveryStateStore(new RedisClient(options), "mm:"), TimeProvider.System))
        {
            Assert.True(restarted.Engine.IsQueueSuspended("spring:acme@x.test"));
        }

        a.Engine.ResumeQueue("spring:*");
        await Eventually.TrueAsync(() => !b.Engine.IsQueueSuspended("spring:acme@x.test"), Deadline, "the resume to reach the other sender");
    }

    [Fact]
    public async Task On_redis_a_site_suspended_in_one_sender_is_suspended_in_another_that_makes_the_site_later()
    {
        using var redis = await RedisServer.StartAsync();
        var options = new RedisClientOptions { Host = redis.Host, Port = redis.Port };
        // A relay nobody listens on: the site exists once a delivery was tried (refused), without DNS.
        var relay = new RelayRoute("127.0.0.1", FreePort.Tcp(), Smtp.Client.SmtpTlsMode.None, null, null);
        await using var a = await RunningEngine.StartAsync(new RedisDeliveryStateStore(new RedisClient(options), "mm:"), TimeProvider.System, relay);
        await using var b = await RunningEngine.StartAsync(new RedisDeliveryStateStore(new RedisClient(options), "mm:"), TimeProvider.System, relay);
        var refused = await a.DeliverAsync();
        Assert.DoesNotContain("suspended", refused.Reason, StringComparison.Ordinal);

        Assert.True(a.Engine.SuspendSite($"relay:127.0.0.1:{relay.Port}", suspend: true));

        var held = await Eventually.GetAsync(async () => await b.DeliverAsync() is { } d && d.Reason.Contains("suspended by an operator", StringComparison.Ordinal) ? d : null,
            Deadline, "the other sender to hold the site");
        Assert.Contains($"relay:127.0.0.1:{relay.Port}", held.Reason, StringComparison.Ordinal);
    }

    /// <summary>An engine with its operations loaded from a store and kept in step by a running sync loop.</summary>
    private sealed class RunningEngine : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stopping = new();
        private readonly DnsResolver _resolver;
        private Task _sync = Task.CompletedTask;

        private RunningEngine(IDeliveryStateStore store, TimeProvider time, RelayRoute? relay)
        {
            Store = store;
            _resolver = new DnsResolver(DnsResolverOptions.FromServers(["127.0.0.1:9"]), time);
            Engine = new DeliveryEngine(new DeliveryOptions { Relay = relay, ConnectTimeout = TimeSpan.FromSeconds(30) }, "mailer.test", 25, new MailRouter(_resolver), new SenderMetrics(new MetricsRegistry()), time,
                NullLogger<DeliveryEngine>.Instance);
        }

        public DeliveryEngine Engine { get; }

        public IDeliveryStateStore Store { get; }

        public static async Task<RunningEngine> StartAsync(IDeliveryStateStore store, TimeProvider time, RelayRoute? relay = null)
        {
            var running = new RunningEngine(store, time, relay);
            var sync = new OperationsSync(running.Engine, store, time, NullLogger.Instance);
            running.Engine.Journal(sync.Publish);
            await sync.LoadAsync(CancellationToken.None);
            running._sync = sync.RunAsync(running._stopping.Token);
            return running;
        }

        /// <summary>One message to the relay; what became of its recipient (deferred: nothing listens).</summary>
        public async Task<RecipientOutcome.Deferred> DeliverAsync()
        {
            var outcomes = await Engine.DeliverAsync("spring:acme@x.test", "x.test", ["a@x.test"], "s@mailer.test", "Subject: t\r\n\r\nbody\r\n"u8.ToArray(),
                CancellationToken.None);
            return Assert.IsType<RecipientOutcome.Deferred>(Assert.Single(outcomes));
        }

        public async ValueTask DisposeAsync()
        {
            await _stopping.CancelAsync();
            await _sync;
            Engine.Dispose();
            _resolver.Dispose();
            _stopping.Dispose();
            switch (Store)
            {
                case IDisposable disposable:
                    disposable.Dispose();
                    break;
                case RedisDeliveryStateStore redis:
                    await redis.DisposeAsync();
                    break;
            }
        }
    }
}
