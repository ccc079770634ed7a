using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using ManycoreMail.TestSupport;
using Xunit.Abstractions;

namespace ManycoreMail.IntegrationTests;

/// <summary>
/// The Redis backbone with every role in a process of its own, as the original ran them in pods: messages
/// through smtp-source, swaks and HTTP reach the sink with delivered events, while a transformer and a
/// sender are killed with SIGKILL in the middle of the run.
/// </summary>
public sealed class RedisMultiProcessTests(TestWorld world, ITestOutputHelper output) : IClassFixture<TestWorld>
{
    private const int HttpMessages = 3500;
    private const int SwaksMessages = 16;
    private const int SmtpSourceMessages = 1484;
    private const string SmtpSourceUuid = "smtpsource";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Every_role_as_its_own_process_delivers_every_message_despite_kill_9_of_a_transformer_and_a_sender()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        using var cluster = await RedisCluster.StartAsync(world, webhook.Url);
        var config = cluster.Config;

        // The documented start order: (Redis,) backdata, mx-server, sender, transformer, receivers. Two of each
        // worker, so one of each can die.
        var exporter = cluster.Start("redis-metrics");
        cluster.Start(Hosting.RoleNames.Backdata);
        var mx = cluster.Start(Hosting.RoleNames.MxServer);
        await RedisCluster.WaitForPortAsync(config.Mx, mx);
        var senderA = cluster.Start(Hosting.RoleNames.Sender);
        cluster.Start(Hosting.RoleNames.Sender);
        var transformerA = cluster.Start(Hosting.RoleNames.Transformer);
        cluster.Start(Hosting.RoleNames.Transformer);
        var receiver = cluster.Start(Hosting.RoleNames.Receiver);
        var api = cluster.Start(Hosting.RoleNames.HttpReceiver);
        await RedisCluster.WaitForPortAsync(config.Receiver, receiver);
        await RedisCluster.WaitForPortAsync(new IPEndPoint(IPAddress.Loopback, config.HttpPort), api);
        await RedisCluster.WaitForPortAsync(new IPEndPoint(IPAddress.Loopback, cluster.ExporterPort), exporter);

        var httpUuids = Enumerable.Range(0, HttpMessages).Select(_ => Messages.NewUuid()).ToArray();
        var swaksUuids = Enumerable.Range(0, SwaksMessages).Select(_ => Messages.NewUuid()).ToArray();
        var submissions = Task.WhenAll(
            cluster.PostAllAsync(httpUuids.Select((u, i) => Messages.Simple(u, $"api{i}@ok.test", i % 4 == 0 ? "X-Priority: 0\r\n" : null)).ToArray()),
            SendWithSwaksAsync(config, swaksUuids),
            SendWithSmtpSourceAsync(config));

        // Kill -9 one transformer and one sender while mail flows: what they held must come back and go out.
        await Eventually.TrueAsync(() => sink.Messages().Count >= 300 || submissions.IsFaulted, Patience, "300 messages delivered")
            .WaitAsync(Patience + TimeSpan.FromSeconds(1)).ContinueWith(t => t.IsFaulted
                ? throw new InvalidOperationException(t.Exception!.InnerException!.Message + "\n" + cluster.Outputs())
                : t, TaskScheduler.Default).Unwrap();
        var sunkAtKill = sink.Messages().Count;
        transformerA.Kill();
        senderA.Kill();
        try
        {
            await submissions.WaitAsync(Patience);
        }
        catch (Exception e) when (e is not TimeoutException)
        {
            // Which process failed a submission is in the processes' own output, not in the client's exception.
            throw new InvalidOperationException($"a submission failed: {e.Message}\n{cluster.Outputs()}", e);
        }

        var unique = httpUuids.Concat(swaksUuids).ToHashSet();
        try
        {
            await Eventually.TrueAsync(() =>
            {
                var sunk = sink.Messages().Select(RedisCluster.UuidOf).ToArray();
                return unique.All(sunk.Contains) && sunk.Count(u => u == SmtpSourceUuid) >= SmtpSourceMessages;
            }, Patience, "every message at the sink");
            await Eventually.TrueAsync(() =>
            {
                var delivered = DeliveredUuids(webhook.Events);
                return unique.All(delivered.Contains) && delivered.Count(u => u == SmtpSourceUuid) >= SmtpSourceMessages;
            }, Patience, "a delivered event for every message");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidOperationException($"{e.Message}\nsink has {sink.Messages().Count} message(s)\n{cluster.Outputs()}", e);
        }

        var counts = sink.Messages().GroupBy(RedisCluster.UuidOf).ToDictionary(g => g.Key ?? "(none)", g => g.Count());
        var duplicates = counts.Where(c => c.Key != SmtpSourceUuid).Sum(c => c.Value - 1) + (counts[SmtpSourceUuid] - SmtpSourceMessages);
        output.WriteLine($"{HttpMessages} HTTP + {SwaksMessages} swaks + {SmtpSourceMessages} smtp-source messages, transformer and sender killed after {sunkAtKill} deliveries: " +
            $"{sink.Messages().Count} deliveries, {duplicates} duplicate(s), {webhook.Events.Count} events");
        Assert.All(counts.Keys, k => Assert.True(k == SmtpSourceUuid || unique.Contains(k), "unexpected message " + k));

        // The exporter shows the queues empty once everything went through, and every role kept running.
        await Eventually.TrueAsync(async () =>
        {
            var metrics = await cluster.MetricsAsync(cluster.ExporterPort);
            return new[] { "primary_queue_messages", "default_queue_messages", "queue_to_postfix_messages", "event_queue_messages" }
                .All(g => RedisCluster.Gauge(metrics, g) == 0.0);
        }, TimeSpan.FromSeconds(30), "queue gauges at 0");
        var receiverMetrics = await cluster.MetricsAsync(config.MetricsPort);
        Assert.NotNull(RedisCluster.Gauge(receiverMetrics, "primary_queue_messages"));
        Assert.Equal(SwaksMessages + SmtpSourceMessages, RedisCluster.Gauge(receiverMetrics, "nbr_emails_enqueued_total"));
    }

    private static List<string> DeliveredUuids(IReadOnlyList<JsonObject> events) =>
        events.Where(e => (string?)e["event"] == "delivered").Select(e => (string?)e["uuid"] ?? "").ToList();

    private static async Task SendWithSwaksAsync(MailerConfig config, IReadOnlyList<string> uuids) =>
        await Parallel.ForEachAsync(uuids, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (uuid, _) =>
        {
            var (code, text) = await Swaks.SendAsync(config.Receiver, Messages.Simple(uuid, $"swaks-{uuid}@ok.test"));
            Assert.True(code == 0 && text.Contains("250 2.0.0", StringComparison.Ordinal), "swaks: " + text);
        });

    private static async Task SendWithSmtpSourceAsync(MailerConfig config)
    {
        var file = Path.Combine(config.Directory, "smtp-source.eml");
        // LF line ends: smtp-source -F sends every line with CR LF itself. All copies carry one X-Uuid.
        await File.WriteAllTextAsync(file, $"From: load@{TestWorld.SenderDomain}\nTo: load@ok.test\nSubject: load\nX-Uuid: {SmtpSourceUuid}\n\n" + string.Concat(Enumerable.Repeat(new string('x', 70) + "\n", 10)));
        var (code, text) = await PeerProcess.RunAsync("/usr/sbin/smtp-source",
            ["-s", "5", "-m", SmtpSourceMessages.ToString(CultureInfo.InvariantCulture), "-F", file, "-f", "load@sender.test", "-t", "load@ok.test",
             $"127.0.0.1:{config.ReceiverPort}"], TimeSpan.FromSeconds(90));
        Assert.True(code == 0, "smtp-source: " + text);
    }
}
