using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using ManycoreMail.Queue.Redis;
using ManycoreMail.TestSupport;
using Xunit.Abstractions;

namespace ManycoreMail.IntegrationTests;

/// <summary>
/// <c>mailer run --queue redis</c> against a redis-server that is killed (SIGKILL) and restarted in the middle
/// of a run: what was acknowledged is delivered, receivers refuse with 451 4.3.0 / 503 while Redis is away and
/// accept again once it is back; mail pushed by the original's modules (raw bytes on the list) goes through;
/// the exporter serves the original's gauges; SIGTERM stops the process cleanly.
/// </summary>
public sealed class RedisOutageTests(TestWorld world, ITestOutputHelper output) : IClassFixture<TestWorld>
{
    private const int HttpMessages = 120;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Redis_restart_mid_run_loses_nothing_and_receivers_refuse_while_it_is_down()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        using var cluster = await RedisCluster.StartAsync(world, webhook.Url);
        var config = cluster.Config;

        // Three messages pushed the way the original's receivers push them: raw bytes on the default list.
        var legacyUuids = Enumerable.Range(0, 3).Select(_ => Messages.NewUuid()).ToArray();
        var outboundUuid = Messages.NewUuid();
        await using (var redis = new RedisClient(new RedisClientOptions { Host = cluster.Redis.Host, Port = cluster.Redis.Port }))
        {
            foreach (var uuid in legacyUuids)
            {
                await redis.ExecuteAsync(CancellationToken.None, "RPUSH", "IB-MAIL-QUEUE-P1", Messages.Simple(uuid, $"legacy-{uuid}@ok.test"));
            }
            // And one the original's Transformer would push for its Postfix module: no envelope of ours, the
            // return path in X-ReturnPathIb, the uuid only in the Message-ID.
            await redis.ExecuteAsync(CancellationToken.None, "RPUSH", "INCOMING-TO-POSTFIX",
                $"From: news@{TestWorld.SenderDomain}\r\nTo: outbound-{outboundUuid}@ok.test\r\nSubject: from the original transformer\r\n" +
                $"Message-ID: <{outboundUuid}@{TestWorld.ReturnPathDomain}>\r\nX-ReturnPathIb: bounce-{outboundUuid}@{TestWorld.ReturnPathDomain}\r\n\r\nhello\r\n");
        }
        var exporter = cluster.Start("redis-metrics");
        await RedisCluster.WaitForPortAsync(new IPEndPoint(IPAddress.Loopback, cluster.ExporterPort), exporter);
        var before = await cluster.MetricsAsync(cluster.ExporterPort);
        Assert.Equal(3.0, RedisCluster.Gauge(before, "default_queue_messages"));
        Assert.Equal(0.0, RedisCluster.Gauge(before, "primary_queue_messages"));

        // `mailer run` serves the exporter's bind itself (every configured bind), so the exporter steps aside.
        exporter.Kill();
        var mailer = cluster.Start("run");
        await RedisCluster.WaitForPortAsync(config.Receiver, mailer);
        await RedisCluster.WaitForPortAsync(new IPEndPoint(IPAddress.Loopback, config.HttpPort), mailer);
        foreach (var uuid in legacyUuids)
        {
            await webhook.WaitForAsync(e => (string?)e["uuid"] == uuid && (string?)e["event"] == "delivered", Patience, "legacy message delivered: " + cluster.Outputs());
        }
        await webhook.WaitForAsync(e => (string?)e["uuid"] == outboundUuid && (string?)e["event"] == "delivered", Patience, "original-transformer message delivered");
        var fromOriginal = Assert.Single(sink.Messages(), m => m.Recipients.Contains($"outbound-{outboundUuid}@ok.test"));
        Assert.Equal($"bounce-{outboundUuid}@{TestWorld.ReturnPathDomain}", fromOriginal.MailFrom);
        Assert.DoesNotContain("X-ReturnPathIb", fromOriginal.Text, StringComparison.OrdinalIgnoreCase);

        // A stream of HTTP submissions; Redis dies under it. Only what was answered 200 must arrive.
        var accepted = new ConcurrentBag<string>();
        var refused = 0;
        var stream = Parallel.ForEachAsync(Enumerable.Range(0, HttpMessages), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, _) =>
        {
            var uuid = Messages.NewUuid();
            var status = await cluster.PostAsync(Messages.Simple(uuid, $"stream{i}@ok.test"));
            if (status == HttpStatusCode.OK)
            {
                accepted.Add(uuid);
            }
            else
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
                Interlocked.Increment(ref refused);
            }
        });
        await Eventually.TrueAsync(() => sink.Messages().Count >= legacyUuids.Length + 21 || stream.IsCompleted, Patience, "20 streamed messages delivered");
        cluster.Redis.Kill();

        // While Redis is down: 451 4.3.0 over SMTP, 503 over HTTP, and the gauges read 0.0, not an error.
        var (code, smtp) = await Swaks.SendAsync(config.Receiver, Messages.Simple(Messages.NewUuid(), "down@ok.test"));
        Assert.True(code != 0, smtp);
        Assert.Contains("451 4.3.0", smtp);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await cluster.PostAsync(Messages.Simple(Messages.NewUuid(), "down@ok.test")));
        var down = await cluster.MetricsAsync(cluster.ExporterPort);
        Assert.Equal(0.0, RedisCluster.Gauge(down, "default_queue_messages"));
        Assert.False(mailer.HasExited, mailer.Output);

        await cluster.Redis.RestartAsync();
        await stream.WaitAsync(Patience);

        // Back: the receivers accept again by themselves (after the client's reconnect back-off).
        var afterUuid = Messages.NewUuid();
        await Eventually.TrueAsync(async () =>
        {
            var (again, text) = await Swaks.SendAsync(config.Receiver, Messages.Simple(afterUuid, "after@ok.test"));
            return again == 0 && text.Contains("250 2.0.0", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(30), "SMTP accepted again after the restart");
        Assert.Equal(HttpStatusCode.OK, await cluster.PostAsync(Messages.Simple(Messages.NewUuid(), "after-http@ok.test")));

        var expected = accepted.Append(afterUuid).ToHashSet();
        try
        {
            await Eventually.TrueAsync(() =>
            {
                var delivered = webhook.Events.Where(e => (string?)e["event"] == "delivered").Select(e => (string?)e["uuid"]).ToHashSet();
                return expected.All(delivered.Contains);
            }, Patience, "every accepted message delivered and reported");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var sunk = sink.Messages().Select(RedisCluster.UuidOf).ToHashSet();
            throw new InvalidOperationException($"{e.Message}; missing at the sink: {string.Join(", ", expected.Where(u => !sunk.Contains(u)))}\n{cluster.Outputs()}", e);
        }
        var counts = sink.Messages().GroupBy(RedisCluster.UuidOf).ToDictionary(g => g.Key ?? "", g => g.Count());
        Assert.All(expected, u => Assert.True(counts.ContainsKey(u), "not at the sink: " + u));
        var duplicates = counts.Values.Sum(c => c - 1);
        output.WriteLine($"Redis killed and restarted mid-run: {accepted.Count} accepted, {refused} refused with 503, " +
            $"{duplicates} duplicate deliveries, {counts.Count} distinct messages at the sink");

        // SIGTERM: the process drains and exits by itself, within the deadline.
        var (killCode, killText) = await PeerProcess.RunAsync("/bin/kill", ["-TERM", mailer.Id.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
        Assert.True(killCode == 0, killText);
        Assert.Equal(0, await mailer.WaitForExitAsync(TimeSpan.FromSeconds(40)));
    }
}
