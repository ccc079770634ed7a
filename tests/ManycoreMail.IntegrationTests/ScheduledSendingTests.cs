using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>
/// Scheduled sending against real peers: a message with X-Send-At is held (durably, embedded and Redis) and
/// delivered only once its time has come; cancelled ones never are. Times are a few seconds ahead on the real clock:
/// the assertions compare the delivered event's time with the send time, never durations.
/// </summary>
public sealed class ScheduledSendingTests(TestWorld world) : IClassFixture<TestWorld>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    /// <summary>Far enough ahead that the checks made before it (and a process restart) happen before it.</summary>
    private static readonly TimeSpan Ahead = TimeSpan.FromSeconds(12);

    private static DateTimeOffset WholeSecondsFromNow(TimeSpan ahead)
    {
        var at = DateTimeOffset.UtcNow + ahead;
        return at.AddTicks(-(at.Ticks % TimeSpan.TicksPerSecond));
    }

    /// <summary>The webhook also gets our <c>cancelled</c> events.</summary>
    private static MailerConfig WithCancelledEvents(MailerConfig config)
    {
        var customer = File.ReadAllText(config.CustomerFile);
        File.WriteAllText(config.CustomerFile, customer.Replace($"  post-url: {config.WebhookUrl}", $"  post-url: {config.WebhookUrl}\n  event-types: [cancelled]", StringComparison.Ordinal));
        return config;
    }

    private static async Task<JsonObject> DeliveredAfterAsync(WebhookListener webhook, SmtpSink sink, string uuid, DateTimeOffset sendAt)
    {
        var delivered = await webhook.WaitForAsync(e => (string?)e["uuid"] == uuid && (string?)e["event"] == "delivered", Patience, "delivered event");
        Assert.True(delivered["timestamp"]!.GetValue<long>() >= sendAt.ToUnixTimeSeconds(),
            $"delivered at {delivered["timestamp"]}, before its send time {sendAt.ToUnixTimeSeconds()}");
        var sent = Assert.Single(await sink.WaitForMessagesAsync(1, Patience));
        Assert.DoesNotContain("X-Send-At", sent.Text, StringComparison.OrdinalIgnoreCase);
        return delivered;
    }

    /// <summary>Nothing had reached the sink while the send time was still ahead. The sink is read first, so whatever it
    /// holds arrived before the clock is read; on a machine so slow that the send time has passed by then there is nothing
    /// to observe here, and <see cref="DeliveredAfterAsync"/> still checks the delivery's time.</summary>
    private static void NotYetDelivered(SmtpSink sink, DateTimeOffset sendAt)
    {
        var arrived = sink.Messages();
        if (DateTimeOffset.UtcNow < sendAt)
        {
            Assert.Empty(arrived);
        }
    }

    /// <summary>The held message is counted while its time is ahead. Like <see cref="NotYetDelivered"/>, the reading
    /// comes before the clock, and a machine too slow to read it before the send time skips the check.</summary>
    private static void StillScheduled(double? scheduled, DateTimeOffset sendAt)
    {
        if (DateTimeOffset.UtcNow < sendAt)
        {
            Assert.Equal(1.0, scheduled);
        }
    }

    [Fact]
    public async Task Smtp_submission_with_an_rfc5322_X_Send_At_is_delivered_only_after_its_time()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        var uuid = Messages.NewUuid();
        var sendAt = WholeSecondsFromNow(Ahead);
        var header = "X-Send-At: " + sendAt.ToOffset(TimeSpan.FromHours(2)).ToString("ddd, dd MMM yyyy HH:mm:ss '+0200'", CultureInfo.InvariantCulture) + "\r\n";

        var (code, output) = await Swaks.SendAsync(config.Receiver, Messages.Simple(uuid, "later@ok.test", header), Swaks.TlsAuth);

        Assert.True(code == 0, output);
        Assert.Contains("250 2.0.0", output);
        StillScheduled(RedisCluster.Gauge(await mailer.MetricsAsync(), "scheduled_messages"), sendAt);
        NotYetDelivered(sink, sendAt);
        await DeliveredAfterAsync(webhook, sink, uuid, sendAt);
        Assert.Contains("scheduled_messages 0", await mailer.MetricsAsync());
        Assert.Contains("scheduler_handed_on_total 1.0", await mailer.MetricsAsync());
    }

    [Fact]
    public async Task Raw_http_submission_with_an_rfc3339_X_Send_At_is_delivered_only_after_its_time()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        using var api = new Api(config);
        var uuid = Messages.NewUuid();
        var sendAt = WholeSecondsFromNow(Ahead);

        using var response = await api.SendAsync(uuid, "X-Send-At: " + sendAt.ToOffset(TimeSpan.FromHours(-5)).ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        NotYetDelivered(sink, sendAt);
        await DeliveredAfterAsync(webhook, sink, uuid, sendAt);
    }

    [Fact]
    public async Task Unreadable_or_too_distant_send_times_are_refused_at_the_door_and_past_ones_sent_at_once()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        using var api = new Api(config);

        using (var garbage = await api.SendAsync(Messages.NewUuid(), "X-Send-At: next tuesday"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);
            Assert.Equal("application/problem+json", garbage.Content.Headers.ContentType?.MediaType);
            var problem = JsonNode.Parse(await garbage.Content.ReadAsStringAsync())!;
            Assert.Equal("X-Send-At", (string?)problem["field"]);
            Assert.Contains("X-Send-At", (string?)problem["detail"]);
        }
        using (var distant = await api.SendAsync(Messages.NewUuid(), "X-Send-At: " + DateTimeOffset.UtcNow.AddDays(31).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)))
        {
            Assert.Equal(HttpStatusCode.BadRequest, distant.StatusCode);
            Assert.Contains("30 days", await distant.Content.ReadAsStringAsync());
        }
        var (_, smtpOutput) = await Swaks.SendAsync(config.Receiver, Messages.Simple(Messages.NewUuid(), "a@ok.test", "X-Send-At: 31 Foo 2026 10:00 +0000\r\n"), Swaks.TlsAuth);
        Assert.Contains("554 5.6.0 Malformed header X-Send-At", smtpOutput);

        var past = Messages.NewUuid();
        using (var response = await api.SendAsync(past, "X-Send-At: 2020-01-01T00:00:00Z"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        await webhook.WaitForAsync(e => (string?)e["uuid"] == past && (string?)e["event"] == "delivered", Patience, "the past-dated message delivered");
        Assert.Contains("scheduled_messages 0", await mailer.MetricsAsync());
        Assert.Single(sink.Messages());
    }

    [Fact]
    public async Task A_message_cancelled_before_its_time_is_never_delivered_and_reported_once()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = WithCancelledEvents(new MailerConfig(world, webhook.Url).Write());
        await using var mailer = await RunningMailer.StartAsync(config);
        using var api = new Api(config);
        var (uuid, sendAt) = await HoldAsync(api);

        using (var cancel = await api.CancelAsync(uuid))
        {
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
            var body = JsonNode.Parse(await cancel.Content.ReadAsStringAsync())!;
            Assert.Equal(uuid, (string?)body["uuid"]);
            Assert.Equal("cancelled", (string?)body["status"]);
        }
        Assert.True(DateTimeOffset.UtcNow < sendAt, "the cancel came after the send time");
        var cancelled = await webhook.WaitForAsync(e => (string?)e["uuid"] == uuid, Patience, "cancelled event");
        Assert.Equal("cancelled", (string?)cancelled["event"]);

        // Its time comes: the scheduler takes the item off the queue without sending it.
        await Eventually.TrueAsync(async () => DateTimeOffset.UtcNow > sendAt && (await mailer.MetricsAsync()).Contains("scheduler_cancelled_total 1.0"),
            Patience, "the cancelled message dropped at its time");
        Assert.Contains("scheduled_messages 0", await mailer.MetricsAsync());
        using (var again = await api.CancelAsync(uuid))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }
        // A message that follows it is delivered, so anything the cancelled one left would have been by now.
        var next = Messages.NewUuid();
        using (await api.SendAsync(next, "X-Priority: 1"))
        {
        }
        await webhook.WaitForAsync(e => (string?)e["uuid"] == next && (string?)e["event"] == "delivered", Patience, "the next message delivered");
        Assert.DoesNotContain(sink.Messages(), m => m.Text.Contains(uuid, StringComparison.Ordinal));
        Assert.Single(webhook.Events, e => (string?)e["uuid"] == uuid);
    }

    [Fact]
    public async Task Cancelling_a_sent_message_answers_409_and_an_unknown_one_404()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        using var api = new Api(config);
        var uuid = Messages.NewUuid();
        var sendAt = WholeSecondsFromNow(TimeSpan.FromSeconds(4));
        using (await api.SendAsync(uuid, "X-Send-At: " + sendAt.ToString("R", CultureInfo.InvariantCulture)))
        {
        }
        await DeliveredAfterAsync(webhook, sink, uuid, sendAt);

        using var late = await api.CancelAsync(uuid);
        using var unknown = await api.CancelAsync("nosuchmessage");
        using var malformed = await api.CancelAsync("Not-A-Uuid");
        using var anonymous = await api.CancelAsync(uuid, authenticate: false);

        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.Equal("application/problem+json", late.Content.Headers.ContentType?.MediaType);
        Assert.Contains("already sent", await late.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    /// <summary>The receiver's login apa and the API's login admin bound to tenant acme, and an API login globex:other
    /// bound to tenant globex.</summary>
    private static MailerConfig WithTenantLogins(MailerConfig config)
    {
        var customer = File.ReadAllText(config.CustomerFile);
        foreach (var (login, more) in (ReadOnlySpan<(string, string)>)[
            ("    - username: apa\n      password: banan\n", "      tenant: acme\n"),
            ("    - username: admin\n      password: secret\n", "      tenant: acme\n    - username: globex\n      password: other\n      tenant: globex\n")])
        {
            Assert.Equal(2, customer.Split(login).Length);
            customer = customer.Replace(login, login + more, StringComparison.Ordinal);
        }
        File.WriteAllText(config.CustomerFile, customer);
        return config;
    }

    [Fact]
    public async Task A_tenant_login_cannot_cancel_another_tenants_scheduled_message_which_is_delivered_at_its_time()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = WithTenantLogins(new MailerConfig(world, webhook.Url).Write());
        await using var mailer = await RunningMailer.StartAsync(config);
        using var api = new Api(config);
        var (uuid, sendAt) = await HoldAsync(api);

        using var foreign = await api.CancelAsync(uuid, login: "globex:other");
        using var unknown = await api.CancelAsync("nosuchmessage", login: "globex:other");

        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Equal("application/problem+json", foreign.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(await foreign.Content.ReadAsStringAsync())!;
        var unknownProblem = JsonNode.Parse(await unknown.Content.ReadAsStringAsync())!;
        Assert.Equal("uuid", (string?)problem["field"]);
        Assert.Equal(((string?)unknownProblem["detail"])!.Replace("nosuchmessage", uuid, StringComparison.Ordinal), (string?)problem["detail"]);
        Assert.True(DateTimeOffset.UtcNow < sendAt, "the cancel came after the send time");
        await DeliveredAfterAsync(webhook, sink, uuid, sendAt);
    }

    [Fact]
    public async Task Messages_held_at_the_smtp_door_and_the_json_api_are_cancelled_only_by_their_logins_tenant()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = WithTenantLogins(new MailerConfig(world, webhook.Url).Write());
        await using var mailer = await RunningMailer.StartAsync(config);
        using var api = new Api(config);
        var uuid = Messages.NewUuid();
        // Both are cancelled, never delivered: an hour ahead keeps a slow machine from sending one before its cancel.
        var sendAt = WholeSecondsFromNow(TimeSpan.FromHours(1));
        var (code, output) = await Swaks.SendAsync(config.Receiver,
            Messages.Simple(uuid, "later@ok.test", $"X-Send-At: {sendAt:yyyy-MM-dd'T'HH:mm:ss'Z'}\r\n"), Swaks.TlsAuth);
        Assert.True(code == 0, output);
        var jsonUuid = Messages.NewUuid();
        using (var accepted = await api.SendJsonAsync($$"""
            {"from": "news@sender.test", "text": "x", "send_at": "{{DateTimeOffset.UtcNow.AddHours(1):yyyy-MM-ddTHH:mm:ssZ}}", "recipients": [{"email": "a@ok.test", "uuid": "{{jsonUuid}}"}]}
            """))
        {
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        }

        using var foreign = await api.CancelAsync(uuid, login: "globex:other");
        using var foreignJson = await api.CancelAsync(jsonUuid, login: "globex:other");
        using var own = await api.CancelAsync(uuid);
        using var ownJson = await api.CancelAsync(jsonUuid);

        Assert.Equal((HttpStatusCode.NotFound, HttpStatusCode.NotFound), (foreign.StatusCode, foreignJson.StatusCode));
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (own.StatusCode, ownJson.StatusCode));
    }

    [Fact]
    public async Task A_scheduled_message_survives_kill_9_on_the_embedded_spool()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        var uuid = Messages.NewUuid();
        DateTimeOffset sendAt;
        using (var first = StartMailer(config))
        {
            await WaitForPortAsync(config.Receiver, first);
            sendAt = WholeSecondsFromNow(Ahead);
            var (code, output) = await Swaks.SendAsync(config.Receiver,
                Messages.Simple(uuid, "survivor@ok.test", $"X-Send-At: {sendAt:yyyy-MM-dd'T'HH:mm:ss'Z'}\r\n"), Swaks.TlsAuth);
            Assert.True(code == 0, output + first.Output);
            Assert.Contains("250 2.0.0", output);
            NotYetDelivered(sink, sendAt);
            first.Kill();
        }

        using var second = StartMailer(config);
        await DeliveredAfterAsync(webhook, sink, uuid, sendAt);
        Assert.Single(webhook.Events, e => (string?)e["uuid"] == uuid);
    }

    [Fact]
    public async Task A_scheduled_message_survives_kill_9_on_redis()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        using var cluster = await RedisCluster.StartAsync(world, webhook.Url);
        var config = cluster.Config;
        var uuid = Messages.NewUuid();
        DateTimeOffset sendAt;
        using (var first = cluster.Start("run"))
        {
            await RedisCluster.WaitForPortAsync(config.Receiver, first);
            sendAt = WholeSecondsFromNow(Ahead);
            var (code, output) = await Swaks.SendAsync(config.Receiver,
                Messages.Simple(uuid, "survivor@ok.test", $"X-Send-At: {sendAt:yyyy-MM-dd'T'HH:mm:ss'Z'}\r\n"), Swaks.TlsAuth);
            Assert.True(code == 0, output + cluster.Outputs());
            StillScheduled(RedisCluster.Gauge(await cluster.MetricsAsync(config.MetricsPort), "scheduled_messages"), sendAt);
            NotYetDelivered(sink, sendAt);
            first.Kill();
        }

        using var second = cluster.Start("run");
        await DeliveredAfterAsync(webhook, sink, uuid, sendAt);
    }

    private static PeerProcess StartMailer(MailerConfig config)
    {
        var mailer = Path.Combine(AppContext.BaseDirectory, "mailer.dll");
        Assert.True(File.Exists(mailer), "mailer.dll is not beside the tests: " + mailer);
        return PeerProcess.Start("dotnet", [mailer, "run", "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile], config.Directory);
    }

    private static Task WaitForPortAsync(IPEndPoint endPoint, PeerProcess process) => RedisCluster.WaitForPortAsync(endPoint, process);

    /// <summary>The HTTP API as a customer calls it.</summary>
    /// <summary>Submits a message over the raw HTTP API held until a few seconds from now (RFC 3339, UTC).</summary>
    private static async Task<(string Uuid, DateTimeOffset SendAt)> HoldAsync(Api api)
    {
        var uuid = Messages.NewUuid();
        var sendAt = WholeSecondsFromNow(Ahead);
        using var held = await api.SendAsync(uuid, "X-Send-At: " + sendAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        Assert.Equal(HttpStatusCode.OK, held.StatusCode);
        return (uuid, sendAt);
    }

    private sealed class Api(MailerConfig config) : IDisposable
    {
        private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };
        private readonly AuthenticationHeaderValue _login = new("Basic", Convert.ToBase64String("admin:secret"u8.ToArray()));

        public async Task<HttpResponseMessage> SendAsync(string uuid, string header)
        {
            using var content = new ByteArrayContent(Messages.Bytes(Messages.Simple(uuid, "api@ok.test", header + "\r\n")));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{config.HttpPort}/v1/mail/send") { Content = content };
            request.Headers.Authorization = _login;
            return await _http.SendAsync(request);
        }

        /// <summary>POST /v1/messages (the JSON send API).</summary>
        public async Task<HttpResponseMessage> SendJsonAsync(string json)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{config.HttpPort}/v1/messages")
            {
                Content = new StringContent(json, Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = _login;
            return await _http.SendAsync(request);
        }

        /// <param name="login">user:password to log in as instead of the usual login.</param>
        public async Task<HttpResponseMessage> CancelAsync(string uuid, bool authenticate = true, string? login = null)
        {
            using var request = new HttpRequestMessage(HttpMethod.Delete, $"http://127.0.0.1:{config.HttpPort}/v1/messages/{uuid}");
            request.Headers.Authorization = !authenticate ? null
                : login is null ? _login
                : new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(login)));
            return await _http.SendAsync(request);
        }

        public void Dispose() => _http.Dispose();
    }
}
