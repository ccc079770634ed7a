using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using ManycoreMail.TestSupport;
using Xunit.Abstractions;

namespace ManycoreMail.IntegrationTests;

/// <summary>
/// Issue 15's cluster: two real <c>mailer sender</c> processes on one redis-server keep to one site's connection limit
/// between them, against a real SMTP peer that counts its open connections.
/// </summary>
public sealed partial class SharedLimitsProcessTests(TestWorld world, ITestOutputHelper output) : IClassFixture<TestWorld>
{
    private const int MaxConnections = 2;
    private const int MessageCount = 12;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Two_sender_processes_on_one_redis_never_open_more_than_the_sites_connection_limit_and_deliver_each_message_once()
    {
        await using var peer = RecordingSmtpPeer.Start(TestWorld.MxAddresses["ok.test"], world.SmtpPort);
        using var webhook = new WebhookListener();
        using var cluster = await RedisCluster.StartAsync(world, webhook.Url);
        var config = cluster.Config;
        int[] metricsPorts = [FreePort.Tcp(), FreePort.Tcp()];

        try
        {
            // Same configuration for both senders but the metrics port, so each one's counters can be read. Three
            // messages in delivery per process at most: neither can lease the whole queue, so both want connections.
            var senders = new List<PeerProcess>();
            foreach (var port in metricsPorts)
            {
                var file = Path.Combine(config.Directory, $"customer-sender-{port}.yaml");
                await File.WriteAllTextAsync(file, WithSenderKeys(await File.ReadAllTextAsync(config.CustomerFile), port));
                senders.Add(cluster.StartWith(file, Hosting.RoleNames.Sender));
            }
            cluster.Start(Hosting.RoleNames.Transformer);
            var api = cluster.Start(Hosting.RoleNames.HttpReceiver);
            for (var i = 0; i < senders.Count; i++)
            {
                await RedisCluster.WaitForPortAsync(new IPEndPoint(IPAddress.Loopback, metricsPorts[i]), senders[i]);
            }
            await RedisCluster.WaitForPortAsync(new IPEndPoint(IPAddress.Loopback, config.HttpPort), api);

            // Every connection stays busy until the test lets go: the limit is full and the other sender must wait.
            peer.Hold();
            var recipients = Enumerable.Range(0, MessageCount).Select(i => $"limit{i}@ok.test").ToArray();
            await cluster.PostAllAsync(recipients.Select(r => Messages.Simple(Messages.NewUuid(), r)).ToArray());
            await Eventually.TrueAsync(async () =>
            {
                // Fails at once, not at the deadline, when the senders together go over the limit.
                Assert.True(peer.MaxOpen <= MaxConnections, $"{peer.MaxOpen} connections open at once");
                return peer.Open == MaxConnections && await SumAsync(cluster, metricsPorts, "sender_cluster_limit_waits_total") > 0;
            }, Patience, $"{MaxConnections} connections open and a sender waiting for a shared slot");
            Assert.Equal(MaxConnections, peer.MaxOpen);

            peer.Release();
            await Eventually.TrueAsync(() => peer.MessageCount >= MessageCount, Patience, $"{MessageCount} messages at the peer");
            await Eventually.TrueAsync(async () => await SumAsync(cluster, metricsPorts, "delivered_total") >= MessageCount, Patience,
                "both senders to count every delivery");

            var delivered = new List<double>();
            foreach (var port in metricsPorts)
            {
                delivered.Add(Sum(await cluster.MetricsAsync(port), "delivered_total"));
            }
            output.WriteLine($"delivered per sender process: {string.Join(", ", delivered)}; most connections open at once: {peer.MaxOpen}");
            Assert.Equal(MessageCount, delivered.Sum());
            Assert.Equal(MessageCount, peer.MessageCount);
            Assert.Equal(MaxConnections, peer.MaxOpen);
            var rcpts = peer.Commands.Select(c => RcptPattern().Match(c)).Where(m => m.Success)
                .GroupBy(m => m.Groups["address"].Value.ToLowerInvariant()).ToDictionary(g => g.Key, g => g.Count());
            Assert.Equal(recipients.Order(StringComparer.Ordinal), rcpts.Keys.Order(StringComparer.Ordinal));
            Assert.All(rcpts, r => Assert.True(r.Value == 1, $"{r.Key} was given to the peer {r.Value} times"));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidOperationException($"{e.Message}\npeer: {peer.Open} open, {peer.MaxOpen} at most, {peer.MessageCount} message(s)\n{cluster.Outputs()}", e);
        }
    }

    /// <summary>The customer file with the limit under test and this process's metrics bind in its sender section.</summary>
    private static string WithSenderKeys(string customer, int metricsPort)
    {
        const string section = "\nsender:\n";
        Assert.Contains(section, customer, StringComparison.Ordinal);
        // A short idle timeout: a pooled connection gives its slot back soon after the peer answers, so the waiting
        // sender gets its turn before its wait for a slot runs out.
        return customer.Replace(section, section + $"""
              max-connections-per-site: {MaxConnections}
              max-concurrent-deliveries: 3
              idle-timeout-seconds: 1
              max-rate-wait-seconds: 60
              prometheus:
                inet-interface: 127.0.0.1
                inet-port: {metricsPort}

            """, StringComparison.Ordinal);
    }

    private static async Task<double> SumAsync(RedisCluster cluster, IEnumerable<int> ports, string family)
    {
        var total = 0.0;
        foreach (var port in ports)
        {
            total += Sum(await cluster.MetricsAsync(port), family);
        }
        return total;
    }

    /// <summary>The sum of a family's samples over every label set.</summary>
    private static double Sum(string metrics, string family) =>
        Regex.Matches(metrics, $@"^{family}(?:\{{[^}}]*\}})? (?<value>[0-9.e+-]+)$", RegexOptions.Multiline)
            .Sum(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"^RCPT TO:<(?<address>[^>]*)>", RegexOptions.IgnoreCase)]
    private static partial Regex RcptPattern();
}
