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

    /// <summary>An engine with its operations loaded from a store and kept in step by a running sync loop.</summary>
    private sealed class RunningEngine : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stopping = new();
        private readonly DnsResolver _resolver;
        private Task _sync = Task.CompletedTask;

        private RunningEngine(IDeliveryStateStore store, TimeProvider time)
        {
            Store = store;
            _resolver = new DnsResolver(DnsResolverOptions.FromServers(["127.0.0.1:9"]), time);
            Engine = new DeliveryEngine(new DeliveryOptions(), "mailer.test", 25, new MailRouter(_resolver), new SenderMetrics(new MetricsRegistry()), time,
                NullLogger<DeliveryEngine>.Instance);
        }

        public DeliveryEngine Engine { get; }

        public IDeliveryStateStore Store { get; }

        public static async Task<RunningEngine> StartAsync(IDeliveryStateStore store, TimeProvider time)
        {
            var running = new RunningEngine(store, time);
            var sync = new OperationsSync(running.Engine, store, time, NullLogger.Instance);
            running.Engine.Journal(sync.Publish);
            await sync.LoadAsync(CancellationToken.None);
            running._sync = sync.RunAsync(running._stopping.Token);
            return running;
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
