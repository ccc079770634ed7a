using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using ManycoreMail.Hosting;
using ManycoreMail.Queue.Redis;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>
/// The receivers' flow control (<c>in-flow-delay-seconds</c>, <c>in-flow-queue-depth</c>, <c>in-flow-queue-megabytes</c>) against a real Redis: with
/// nobody leasing, the queues behind the receivers stay as the test fills them. A message arriving while they are above
/// the mark is held (the SMTP DATA unanswered, the API request unanswered) until the test drains them, or until the
/// delay runs out; it is then taken as usual. Nothing is refused for flow.
/// </summary>
public sealed partial class InFlowControlTests(TestWorld world) : IClassFixture<TestWorld>
{
    private const string Outbound = "INCOMING-TO-POSTFIX";
    private const string Ingress = "IB-MAIL-QUEUE-P1";
    private const int Mark = 5;

    [Fact]
    public async Task A_held_DATA_is_answered_only_once_the_queues_drain_and_the_message_is_then_queued()
    {
        await using var backlog = await BackloggedAsync("  in-flow-delay-seconds: 60\n", Mark + 1, RoleNames.Receiver);
        var (redis, config, mailer) = (backlog.Redis, backlog.Config, backlog.Mailer);

        using var client = await OpenTransactionAsync(config);
        await client.WriteAsync("DATA\r\n");
        var answer = client.ReadReplyAsync();
        await Eventually.TrueAsync(async () => Metric(await mailer.MetricsAsync(), "receiver_in_flow_delayed_total") == 1, LineClient.Deadline, "the DATA to be held");
        Assert.False(answer.IsCompleted, "DATA was answered while the queues were above the mark");

        await DrainAsync(redis);
        Assert.StartsWith("354 ", await answer);
        await client.WriteAsync(Messages.Simple(Messages.NewUuid(), "held@ok.test") + ".\r\n");
        Assert.StartsWith("250 2.0.0 Queued as ", await client.ReadReplyAsync());
        Assert.Equal(1, await ReadyAsync(redis, Ingress));
        var metrics = await mailer.MetricsAsync();
        Assert.Equal(1, Metric(metrics, "receiver_in_flow_delay_seconds_count"));
    }

    [Fact]
    public async Task A_held_BDAT_is_answered_once_the_queues_drain()
    {
        await using var backlog = await BackloggedAsync("  in-flow-delay-seconds: 60\n", Mark + 1, RoleNames.Receiver);
        var (redis, config, mailer) = (backlog.Redis, backlog.Config, backlog.Mailer);

        using var client = await OpenTransactionAsync(config);
        var message = Encoding.Latin1.GetBytes(Messages.Simple(Messages.NewUuid(), "chunked@ok.test"));
        await client.WriteAsync($"BDAT {message.Length} LAST\r\n{Encoding.Latin1.GetString(message)}");
        var answer = client.ReadReplyAsync();
        await Eventually.TrueAsync(async () => Metric(await mailer.MetricsAsync(), "receiver_in_flow_delayed_total") == 1, LineClient.Deadline, "the BDAT to be held");
        Assert.False(answer.IsCompleted, "BDAT was answered while the queues were above the mark");

        await DrainAsync(redis);
        Assert.StartsWith("250 2.0.0 Queued as ", await answer);
        Assert.Equal(1, await ReadyAsync(redis, Ingress));
    }

    [Fact]
    public async Task When_the_delay_runs_out_the_message_is_accepted_anyway()
    {
        await using var backlog = await BackloggedAsync("  in-flow-delay-seconds: 5\n", Mark + 1, RoleNames.Receiver);
        var (redis, config, mailer) = (backlog.Redis, backlog.Config, backlog.Mailer);

        // Nobody drains: the queues stay above the mark, and the 5 s delay is all the message waits.
        var (code, output) = await Swaks.SendAsync(config.Receiver, Messages.Simple(Messages.NewUuid(), "patient@ok.test"));

        Assert.True(code == 0, output);
        Assert.Contains("250 2.0.0 Queued as", output);
        Assert.Equal(1, await ReadyAsync(redis, Ingress));
        Assert.Equal(Mark + 2, await ReadyAsync(redis, Outbound) + await ReadyAsync(redis, Ingress));
        var metrics = await mailer.MetricsAsync();
        Assert.Equal(1, Metric(metrics, "receiver_in_flow_delayed_total"));
        Assert.Equal(1, Metric(metrics, "receiver_in_flow_delay_seconds_count"));
        Assert.True(Metric(metrics, "receiver_in_flow_delay_seconds_sum") > 0, metrics);
    }

    [Fact]
    public async Task A_zero_delay_turns_flow_control_off()
    {
        await using var backlog = await BackloggedAsync("  in-flow-delay-seconds: 0\n", Mark + 100, RoleNames.Receiver, RoleNames.HttpReceiver);
        var (redis, config, mailer) = (backlog.Redis, backlog.Config, backlog.Mailer);

        // With the delay at 0 on both receivers, nothing reads the depth and nothing is held.
        var (code, output) = await Swaks.SendAsync(config.Receiver, Messages.Simple(Messages.NewUuid(), "smtp@ok.test"));
        Assert.True(code == 0, output);
        using var http = new HttpClient();
        using var response = await PostAsync(http, config, Messages.Simple(Messages.NewUuid(), "api@ok.test"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        Assert.Equal(2, await ReadyAsync(redis, Ingress));
        var metrics = await mailer.MetricsAsync();
        Assert.Equal(0, Metric(metrics, "receiver_in_flow_delayed_total"));
        Assert.Equal(0, Metric(metrics, "httpreceiver_in_flow_delayed_total"));
    }

    [Fact]
    public async Task The_HTTP_receiver_holds_a_request_until_the_queues_drain()
    {
        await using var backlog = await BackloggedAsync("  in-flow-delay-seconds: 60\n", Mark + 1, RoleNames.HttpReceiver);
        var (redis, config, mailer) = (backlog.Redis, backlog.Config, backlog.Mailer);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(90) };
        var answer = PostAsync(http, config, Messages.Simple(Messages.NewUuid(), "api-held@ok.test"));
        await Eventually.TrueAsync(async () => Metric(await mailer.MetricsAsync(), "httpreceiver_in_flow_delayed_total") == 1, LineClient.Deadline, "the request to be held");
        Assert.False(answer.IsCompleted, "the request was answered while the queues were above the mark");
        Assert.Equal(0, await ReadyAsync(redis, Ingress));

        await DrainAsync(redis);
        using var response = await answer.WaitAsync(LineClient.Deadline);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, await ReadyAsync(redis, Ingress));
        Assert.Equal(1, Metric(await mailer.MetricsAsync(), "httpreceiver_in_flow_delay_seconds_count"));
    }

    [Fact]
    public async Task Few_large_messages_past_the_byte_mark_hold_the_next_one_though_their_count_is_far_below_the_depth_mark()
    {
        // Three messages wait; the count mark (1000) never binds, the byte mark (1 MB) does once the receiver has seen
        // what its mail weighs: three waiting at about 400 KB each are 1.2 MB.
        await using var backlog = await BackloggedAsync("  in-flow-delay-seconds: 60\n  in-flow-queue-megabytes: 1\n", 3, 1000, RoleNames.Receiver);
        var (redis, config, mailer) = (backlog.Redis, backlog.Config, backlog.Mailer);
        var large = Messages.Simple(Messages.NewUuid(), "large@ok.test", body: string.Concat(Enumerable.Repeat(new string('x', 998) + "\r\n", 400)));

        // The first message is taken at once: nothing was queued here yet, so nothing says the waiting ones are large.
        var (code, output) = await Swaks.SendAsync(config.Receiver, large);
        Assert.True(code == 0, output);
        Assert.Equal(0, Metric(await mailer.MetricsAsync(), "receiver_in_flow_delayed_total"));

        using var client = await OpenTransactionAsync(config);
        await client.WriteAsync("DATA\r\n");
        var answer = client.ReadReplyAsync();
        await Eventually.TrueAsync(async () => Metric(await mailer.MetricsAsync(), "receiver_in_flow_delayed_total") == 1, LineClient.Deadline, "the DATA to be held");
        Assert.False(answer.IsCompleted, "DATA was answered while the queues held more than the byte mark");

        await DrainAsync(redis, Ingress);
        Assert.StartsWith("354 ", await answer);
        await client.WriteAsync(Messages.Simple(Messages.NewUuid(), "held@ok.test") + ".\r\n");
        Assert.StartsWith("250 2.0.0 Queued as ", await client.ReadReplyAsync());
        Assert.Equal(1, await ReadyAsync(redis, Ingress));
    }

    /// <summary>A Redis with <paramref name="backlog"/> messages waiting for a sender that does not run, and a mailer
    /// running <paramref name="roles"/> on it.</summary>
    private Task<Backlogged> BackloggedAsync(string delayKey, int backlog, params string[] roles) =>
        BackloggedAsync(delayKey, backlog, Mark, roles);

    private async Task<Backlogged> BackloggedAsync(string delayKey, int backlog, int depthMark, params string[] roles)
    {
        var redis = await RedisServer.StartAsync();
        try
        {
            var config = await WriteConfigAsync(redis, delayKey, depthMark);
            await FillAsync(redis, backlog);
            return new Backlogged(redis, config, await RunningMailer.StartAsync(config, o => o, roles, QueueBackend.Redis));
        }
        catch
        {
            redis.Dispose();
            throw;
        }
    }

    private sealed record Backlogged(RedisServer Redis, MailerConfig Config, RunningMailer Mailer) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Mailer.DisposeAsync();
            Redis.Dispose();
        }
    }

    /// <summary>The usual test configuration on <paramref name="redis"/>, with the mark at <paramref name="depthMark"/> and
    /// <paramref name="delayKey"/> in both receiver sections.</summary>
    private async Task<MailerConfig> WriteConfigAsync(RedisServer redis, string delayKey, int depthMark)
    {
        var config = new MailerConfig(world, "http://127.0.0.1:9/unused") { TrustedNetworks = "[127.0.0.0/8]" }.Write();
        var keys = delayKey + $"  in-flow-queue-depth: {depthMark}\n";
        var text = (await File.ReadAllTextAsync(config.CustomerFile))
            .Replace("hostname: localhost", "hostname: 127.0.0.1", StringComparison.Ordinal)
            .Replace("port: 6379", $"port: {redis.Port}", StringComparison.Ordinal);
        text = ReceiverSection().Replace(text, m => m.Value + keys);
        await File.WriteAllTextAsync(config.CustomerFile, text);
        return config;
    }

    /// <summary>Messages waiting for the sender, pushed as the original's transformer pushed them (raw bytes).</summary>
    private static async Task FillAsync(RedisServer redis, int count)
    {
        await using var client = new RedisClient(new RedisClientOptions { Host = redis.Host, Port = redis.Port });
        for (var i = 0; i < count; i++)
        {
            await client.ExecuteAsync(CancellationToken.None, "RPUSH", Outbound, Messages.Simple(Messages.NewUuid(), $"backlog{i}@ok.test"));
        }
    }

    /// <summary>What a sender (and a transformer, for <paramref name="more"/>) would do, all at once: the backlog leaves.</summary>
    private static async Task DrainAsync(RedisServer redis, params string[] more)
    {
        await using var client = new RedisClient(new RedisClientOptions { Host = redis.Host, Port = redis.Port });
        await client.ExecuteAsync(CancellationToken.None, ["DEL", Outbound, .. more]);
    }

    private static async Task<long> ReadyAsync(RedisServer redis, string queue)
    {
        await using var store = await RedisQueueStore.ConnectAsync(new RedisClientOptions { Host = redis.Host, Port = redis.Port }, TimeProvider.System, null, CancellationToken.None);
        return await store.ReadyCountAsync(queue, CancellationToken.None);
    }

    /// <summary>A session from a trusted address up to its DATA (or BDAT).</summary>
    private static async Task<LineClient> OpenTransactionAsync(MailerConfig config)
    {
        var client = await LineClient.ConnectAsync(config.Receiver);
        Assert.StartsWith("220 ", await client.ReadReplyAsync());
        await client.WriteAsync("EHLO client.test\r\n");
        Assert.StartsWith("250 ", await client.ReadReplyAsync());
        await client.WriteAsync($"MAIL FROM:<news@{TestWorld.SenderDomain}>\r\n");
        Assert.StartsWith("250 ", await client.ReadReplyAsync());
        await client.WriteAsync("RCPT TO:<someone@ok.test>\r\n");
        Assert.StartsWith("250 ", await client.ReadReplyAsync());
        return client;
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient http, MailerConfig config, string message)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(message));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{config.HttpPort}/v1/mail/send") { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("admin:secret"u8.ToArray()));
        return http.SendAsync(request);
    }

    /// <summary>A sample's value in Prometheus text; 0 when it is not there yet.</summary>
    private static double Metric(string metrics, string name)
    {
        var match = Regex.Match(metrics, $@"^{Regex.Escape(name)} (?<value>\S+)$", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture) : 0;
    }

    [GeneratedRegex("^(http)?receiver:\n", RegexOptions.Multiline)]
    private static partial Regex ReceiverSection();
}
