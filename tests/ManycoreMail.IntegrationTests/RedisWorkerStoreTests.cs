using System.Text;
using ManycoreMail.Config;
using ManycoreMail.Hosting;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Redis;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.IntegrationTests;

/// <summary>
/// The host's layer over the Redis store against a real redis-server: the heartbeat keeps a held item's lease
/// alive, a holder that stops beating loses its items to the others within one lease, and a settlement made
/// while Redis is down is applied once it is back. Plus the Redis keys of the configuration.
/// </summary>
public sealed class RedisWorkerStoreTests : IAsyncLifetime
{
    private const string Queue = "IB-MAIL-QUEUE-P1";
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private RedisServer _redis = null!;

    public async Task InitializeAsync() => _redis = await RedisServer.StartAsync();

    public Task DisposeAsync()
    {
        _redis.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Heartbeat_renews_held_leases_and_a_silent_holder_loses_its_items_to_the_others()
    {
        await using var holder = await OpenAsync();
        await using var other = await OpenAsync();
        await holder.EnqueueAsync(Queue, new QueueItem(MessageEnvelope.Empty, "hello"u8.ToArray()), CancellationToken.None);
        var item = Assert.Single(await holder.LeaseAsync(Queue, 10, TimeSpan.FromMinutes(30), CancellationToken.None));

        // The role asked for 30 minutes; Redis holds a short lease, moved forward by the heartbeat.
        Assert.True(item.LeaseExpiresAt <= DateTimeOffset.UtcNow + Lease + TimeSpan.FromSeconds(1), $"lease until {item.LeaseExpiresAt:O}");
        var first = await LeaseScoreAsync(item.Id);
        await Eventually.TrueAsync(async () => await LeaseScoreAsync(item.Id) > first, Patience, "lease renewed");
        Assert.Empty(await other.LeaseAsync(Queue, 10, TimeSpan.FromMinutes(1), CancellationToken.None));

        // The holder goes silent (as after kill -9): the other instance gets the item once the lease runs out.
        await holder.DisposeAsync();
        var taken = await Eventually.GetAsync(async () =>
        {
            var batch = await other.LeaseAsync(Queue, 10, TimeSpan.FromMinutes(1), CancellationToken.None);
            return batch.Count > 0 ? batch : null;
        }, Patience, "item back on its queue");
        Assert.Equal("hello", Encoding.UTF8.GetString(Assert.Single(taken).Body.Span));
        await other.CommitAsync(new QueueTransaction().Complete(taken[0]), CancellationToken.None);
        Assert.Equal(0, other.HeldCount);
    }

    [Fact]
    public async Task Settlement_made_while_redis_is_down_is_applied_when_it_is_back()
    {
        await using var store = await OpenAsync();
        await store.EnqueueAsync(Queue, new QueueItem(MessageEnvelope.Empty, "work"u8.ToArray()), CancellationToken.None);
        var item = Assert.Single(await store.LeaseAsync(Queue, 1, TimeSpan.FromMinutes(5), CancellationToken.None));

        _redis.Kill();
        var settle = store.CommitAsync(new QueueTransaction().Complete(item).Enqueue("INCOMING-TO-POSTFIX", new QueueItem(MessageEnvelope.Empty, "done"u8.ToArray())), CancellationToken.None).AsTask();
        await Assert.ThrowsAnyAsync<RedisConnectionException>(() => store.EnqueueAsync(Queue, new QueueItem(MessageEnvelope.Empty, "refused"u8.ToArray()), CancellationToken.None).AsTask());
        Assert.False(settle.IsCompleted, "the settlement should wait for Redis");
        await _redis.RestartAsync();
        await settle.WaitAsync(Patience);

        Assert.Equal(0, await store.CountAsync(Queue, CancellationToken.None));
        var moved = Assert.Single(await store.LeaseAsync("INCOMING-TO-POSTFIX", 10, TimeSpan.FromMinutes(1), CancellationToken.None));
        Assert.Equal("done", Encoding.UTF8.GetString(moved.Body.Span));
    }

    [Fact]
    public async Task Settlement_refused_while_redis_is_busy_is_applied_once_it_answers_again()
    {
        await using var store = await OpenAsync();
        await store.EnqueueAsync(Queue, new QueueItem(MessageEnvelope.Empty, "work"u8.ToArray()), CancellationToken.None);
        var item = Assert.Single(await store.LeaseAsync(Queue, 1, TimeSpan.FromMinutes(5), CancellationToken.None));

        // A script that never ends makes Redis answer every other client "BUSY" (as it answers "LOADING" while it
        // reads its data back after a restart): refused without being run, so the settlement must wait, not fail.
        var options = new RedisClientOptions { Host = _redis.Host, Port = _redis.Port, CommandTimeout = TimeSpan.FromMinutes(2) };
        await using var admin = new RedisClient(options);
        await using var scripter = new RedisClient(options);
        await admin.ConnectAsync(CancellationToken.None);
        await admin.ExecuteAsync(CancellationToken.None, "CONFIG", "SET", "lua-time-limit", "50");
        var endless = scripter.ExecuteAsync(CancellationToken.None, "EVAL", "while true do end", "0");
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                await admin.ExecuteAsync(CancellationToken.None, "PING");
                return false;
            }
            catch (RedisServerException e) when (e.IsTransient)
            {
                return true;
            }
        }, Patience, "Redis answering BUSY");

        var settle = store.CommitAsync(new QueueTransaction().Complete(item).Enqueue("INCOMING-TO-POSTFIX", new QueueItem(MessageEnvelope.Empty, "done"u8.ToArray())), CancellationToken.None).AsTask();
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                await admin.ExecuteAsync(CancellationToken.None, "SCRIPT", "KILL");
                return true;
            }
            catch (RedisServerException)
            {
                return false;
            }
        }, Patience, "script killed");
        await Assert.ThrowsAsync<RedisServerException>(() => endless);
        await settle.WaitAsync(Patience);

        Assert.Equal(0, await store.CountAsync(Queue, CancellationToken.None));
        var moved = Assert.Single(await store.LeaseAsync("INCOMING-TO-POSTFIX", 10, TimeSpan.FromMinutes(1), CancellationToken.None));
        Assert.Equal("done", Encoding.UTF8.GetString(moved.Body.Span));
    }

    [Fact]
    public void Redis_keys_are_read_from_the_first_section_that_has_them()
    {
        const string global = """
            reliable-queue: {queue-names: {primary-queue: P0, default-queue: P1}}
            backdata: {queue-name: EV}
            postfix: {incoming-queue-name: OUT}
            """;
        var loaded = ConfigLoader.Parse(global, """
            receiver:
              bind: {inet-interface: 127.0.0.1, inet-port: 2525}
              reliable-queue:
                redis: {hostname: redis.internal, port: "6380", username: mailer, password: s3cret, tls: true, db: 2, lease-seconds: 12}
            backdata:
              post-url: http://127.0.0.1:9/events
              reliable-queue:
                redis: {hostname: other, port: 6379, db: 5}
            """);
        var redis = loaded.Options.Redis;
        Assert.Equal(("redis.internal", 6380, "mailer", "s3cret", true, 2, TimeSpan.FromSeconds(12)),
            (redis.Hostname, redis.Port, redis.Username, redis.Password, redis.Tls, redis.Database, redis.Lease));
        Assert.DoesNotContain(loaded.Warnings, w => w.Contains("redis", StringComparison.Ordinal));

        var problem = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(global, """
            receiver:
              bind: {inet-interface: 127.0.0.1, inet-port: 2525}
              reliable-queue:
                redis: {hostname: redis.internal, username: mailer, lease-seconds: 1}
            """));
        Assert.Contains(problem.Problems, p => p.Contains("reliable-queue/redis/username", StringComparison.Ordinal));
        Assert.Contains(problem.Problems, p => p.Contains("reliable-queue/redis/lease-seconds", StringComparison.Ordinal));
    }

    private async Task<RedisWorkerStore> OpenAsync()
    {
        var client = new RedisClientOptions { Host = _redis.Host, Port = _redis.Port, MinReconnectDelay = TimeSpan.FromMilliseconds(50), MaxReconnectDelay = TimeSpan.FromMilliseconds(500) };
        var store = await RedisQueueStore.ConnectAsync(client, TimeProvider.System, null, CancellationToken.None);
        return new RedisWorkerStore(store, Lease, TimeProvider.System, NullLogger.Instance);
    }

    private async Task<double> LeaseScoreAsync(long id)
    {
        await using var client = new RedisClient(new RedisClientOptions { Host = _redis.Host, Port = _redis.Port });
        var reply = await client.ExecuteAsync(CancellationToken.None, "ZSCORE", $"mm:q:{Queue}:leased", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return reply.IsNull ? 0 : double.Parse(reply.ToString()!, System.Globalization.CultureInfo.InvariantCulture);
    }
}
