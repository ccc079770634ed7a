using System.Net;
using System.Net.Http.Headers;
using System.Collections.Concurrent;
using System.Text;
using ManycoreMail.Config;
using ManycoreMail.Hosting;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.IntegrationTests;

/// <summary>One message end to end against real peers: swaks or HTTP in, dnsmasq for MX and DKIM records,
/// Postfix's smtp-sink as the recipient's MX, dkimpy as the verifier, a webhook listener for events.</summary>
public sealed class EndToEndTests(TestWorld world) : IClassFixture<TestWorld>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Submission_over_starttls_and_auth_is_signed_delivered_and_reported()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        var uuid = Messages.NewUuid();
        var message = Messages.Simple(uuid, "Reader <reader@ok.test>", "Bcc: hidden@ok.test\r\nX-Priority: 3 (Normal)\r\n");

        var (code, output) = await Swaks.SendAsync(config.Receiver, message, Swaks.TlsAuth);

        Assert.True(code == 0, output);
        Assert.Contains("250 2.0.0", output);
        // Both recipients share a domain, so they go in one transaction.
        var sent = Assert.Single(await sink.WaitForMessagesAsync(1, Patience));
        Assert.Equal(["hidden@ok.test", "reader@ok.test"], sent.Recipients.Order());
        Assert.Equal($"bounce-{uuid}@{TestWorld.ReturnPathDomain}", sent.MailFrom);
        var text = sent.Text;
        Assert.Contains($"Message-ID: <{uuid}@{TestWorld.ReturnPathDomain}>", text);
        Assert.Contains($"Feedback-ID: stream7:{uuid}:test-mailtype:example-sender", text);
        Assert.Contains($"List-Unsubscribe: <mailto:unsub-{uuid}@{TestWorld.ReturnPathDomain}>", text);
        Assert.Contains("X-Mailer: Inboxbooster-Mailer", text);
        Assert.DoesNotContain("X-Uuid", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("X-Stream-Id", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("X-Priority", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Bcc:", text, StringComparison.OrdinalIgnoreCase);

        var (valid, verifierOutput) = await world.VerifyDkimAsync(sent.Message);
        Assert.True(valid, verifierOutput + "\n" + text);

        var events = await Eventually.GetAsync(() => Task.FromResult(
            webhook.Events.Where(e => (string?)e["uuid"] == uuid && (string?)e["event"] == "delivered").ToArray() is { Length: 2 } both ? both : null),
            Patience, "two delivered events");
        Assert.All(events, e => Assert.Equal("127.0.0.2", (string?)e["ip"]));
        Assert.All(events, e => Assert.True(e["timestamp"]!.GetValue<long>() > 1_700_000_000));
        Assert.Equal(["hidden@ok.test", "reader@ok.test"], events.Select(e => (string?)e["email"]).Order());
        Assert.All(webhook.ContentTypes, t => Assert.StartsWith("application/json", t));
        Assert.Contains("nbr_emails_enqueued_total 1.0", await mailer.MetricsAsync());
        Assert.Contains("nbr_recipients_total 2.0", await mailer.MetricsAsync());
        // Both deliveries were timed from the 250 the customer got; well within a minute here.
        await Eventually.TrueAsync(async () => (await mailer.MetricsAsync()).Contains("accept_to_delivery_seconds_count 2.0"), Patience, "two delivery latencies");
        Assert.Contains("accept_to_delivery_seconds_bucket{le=\"60\"} 2.0", await mailer.MetricsAsync());
    }

    [Fact]
    public async Task Without_a_backdata_section_the_embedded_mailer_warns_that_events_wait_in_the_spool()
    {
        var config = new MailerConfig(world, "http://127.0.0.1:9/unused").Write();
        var customer = File.ReadAllText(config.CustomerFile);
        File.WriteAllText(config.CustomerFile, customer[..customer.IndexOf("backdata:", StringComparison.Ordinal)]);
        var options = ConfigLoader.Load(new ConfigSources(config.GlobalFile, config.CustomerFile)).Options;
        Assert.Null(options.Backdata);
        var logs = new CapturedWarnings();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));

        await using var host = new MailerHost(options, loggers, TimeProvider.System);
        await host.StartAsync([RoleNames.Sender], CancellationToken.None);
        await host.StopAsync(CancellationToken.None);

        Assert.Contains(logs.Messages, m => m.StartsWith("No backdata section", StringComparison.Ordinal) && m.Contains(options.Queues.Events, StringComparison.Ordinal));
    }

    private sealed class CapturedWarnings : ILoggerProvider, ILogger
    {
        public ConcurrentQueue<string> Messages { get; } = new();
        public ILogger CreateLogger(string categoryName) => this;
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                Messages.Enqueue(formatter(state, exception));
            }
        }
        public void Dispose()
        {
        }
    }

    [Fact]
    public async Task Http_api_message_is_delivered_and_reported()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        var uuid = Messages.NewUuid();

        using var http = new HttpClient();
        using var content = new ByteArrayContent(Messages.Bytes(Messages.Simple(uuid, "api@ok.test", "X-Priority: 0\r\n")));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{config.HttpPort}/v1/mail/send") { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:secret")));
        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = (await sink.WaitForMessagesAsync(1, Patience))[0];
        Assert.Equal(["api@ok.test"], sent.Recipients);
        var (valid, verifierOutput) = await world.VerifyDkimAsync(sent.Message);
        Assert.True(valid, verifierOutput);
        await webhook.WaitForAsync(e => (string?)e["uuid"] == uuid && (string?)e["event"] == "delivered", Patience, "delivered event");
        // One process runs the receivers and the transformer: the message was transformed as it was accepted.
        var metrics = await mailer.MetricsAsync();
        Assert.Contains("transformer_at_door_total 1.0", metrics);
        Assert.Contains("transformer_polled_primary_total 0", metrics);
    }

    [Fact]
    public async Task Http_api_bodies_read_into_pooled_buffers_are_each_delivered_as_posted()
    {
        // Each request's body is read into a buffer from the shared pool and returned once queued; were one returned
        // before the store had its bytes, a later request's body would show through in an earlier message.
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        using var http = new HttpClient();
        var bodies = new Dictionary<string, string>();
        foreach (var (lines, chunked) in new[] { (40, false), (1_500, true), (40, true), (1_500, false) })
        {
            var uuid = Messages.NewUuid();
            var body = string.Concat(Enumerable.Range(0, lines).Select(i => $"{uuid} line {i} {new string((char)('a' + i % 26), 20)}\r\n"));
            bodies[uuid] = body;
            var bytes = Messages.Bytes(Messages.Simple(uuid, $"{uuid}@ok.test", body: body));
            using HttpContent content = chunked ? new StreamContent(new MemoryStream(bytes)) : new ByteArrayContent(bytes);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{config.HttpPort}/v1/mail/send") { Content = content };
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:secret")));
            request.Headers.TransferEncodingChunked = chunked;
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var sent = await sink.WaitForMessagesAsync(bodies.Count, Patience);
        Assert.Equal(bodies.Count, sent.Count);
        foreach (var message in sent)
        {
            var uuid = message.Recipients[0].Split('@')[0];
            Assert.EndsWith("\r\n\r\n" + bodies[uuid], message.Text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Recipient_refused_with_550_becomes_a_hard_bounce()
    {
        using var sink = await world.StartSinkAsync("hard.test", "-f", "rcpt", "-B", "550 5.1.1 No such user here");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        var uuid = Messages.NewUuid();

        var (code, output) = await Swaks.SendAsync(config.Receiver, Messages.Simple(uuid, "nobody@hard.test"), Swaks.TlsAuth);

        Assert.True(code == 0, output);
        var bounce = await webhook.WaitForAsync(e => (string?)e["uuid"] == uuid, Patience, "bounce event");
        Assert.Equal("bounce", (string?)bounce["event"]);
        Assert.Equal("hard", (string?)bounce["type"]);
        Assert.Contains("550 5.1.1 No such user here", (string?)bounce["reason"]);
        Assert.Equal("127.0.0.3", (string?)bounce["ip"]);
        Assert.Equal("nobody@hard.test", (string?)bounce["email"]);
        Assert.Empty(sink.Messages());
    }

    [Fact]
    public async Task Recipient_deferred_with_451_is_delivered_on_retry()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url) { FirstRetrySeconds = 1 }.Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        var uuid = Messages.NewUuid();
        var first = await world.StartSinkAsync("soft.test", "-r", "rcpt", "-b", "451 4.3.0 Try again later");
        try
        {
            var (code, output) = await Swaks.SendAsync(config.Receiver, Messages.Simple(uuid, "later@soft.test"), Swaks.TlsAuth);
            Assert.True(code == 0, output);
            await Eventually.TrueAsync(async () => first.Output.Length > 0 || (await mailer.MetricsAsync()).Contains("postfix_emails_to_postfix_total 1.0"),
                Patience, "a first delivery attempt");
        }
        finally
        {
            first.Dispose();
        }
        Assert.DoesNotContain(webhook.Events, e => (string?)e["uuid"] == uuid);

        using var second = await world.StartSinkAsync("soft.test");
        var delivered = await webhook.WaitForAsync(e => (string?)e["uuid"] == uuid, Patience, "delivered event after retry");
        Assert.Equal("delivered", (string?)delivered["event"]);
        Assert.Single(await second.WaitForMessagesAsync(1, Patience));
    }

    [Fact]
    public async Task Unroutable_domain_bounces_at_once()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        var uuid = Messages.NewUuid();

        var (code, output) = await Swaks.SendAsync(config.Receiver, Messages.Simple(uuid, "x@nullmx.test, y@missing.test"), Swaks.TlsAuth);

        Assert.True(code == 0, output);
        var bounces = await Eventually.GetAsync(() => Task.FromResult(
            webhook.Events.Where(e => (string?)e["uuid"] == uuid).ToArray() is { Length: 2 } both ? both : null), Patience, "two bounces");
        Assert.All(bounces, b => Assert.Equal("unroutable", (string?)b["type"]));
    }

    [Fact]
    public async Task Unknown_from_domain_becomes_an_error_event()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        var uuid = Messages.NewUuid();
        var message = Messages.Simple(uuid, "x@ok.test").Replace($"news@{TestWorld.SenderDomain}", "news@unknown.test");

        var (code, output) = await Swaks.SendAsync(config.Receiver, message, Swaks.TlsAuth);

        Assert.True(code == 0, output);
        var error = await webhook.WaitForAsync(e => (string?)e["event"] == "error", Patience, "error event");
        Assert.Equal("transformer", (string?)error["service"]);
        Assert.Equal(uuid, (string?)error["uuid"]);
        Assert.Contains("unknown.test", (string?)error["msg"]);
        Assert.NotNull(error["stack-trace"]);
    }

    [Fact]
    public async Task Events_are_kept_while_the_webhook_fails_and_posted_when_it_recovers()
    {
        using var webhook = new WebhookListener { FailWith = HttpStatusCode.InternalServerError };
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        var uuid = Messages.NewUuid();

        var (code, output) = await Swaks.SendAsync(config.Mx, "Subject: bye\r\n\r\nunsubscribe\r\n", "--to", $"unsub-{uuid}@{TestWorld.ReturnPathDomain}");
        Assert.True(code == 0, output);
        await Eventually.TrueAsync(() => webhook.Requests >= 2, Patience, "at least two failed POSTs");
        Assert.Empty(webhook.Events);

        webhook.FailWith = null;
        var unsubscribe = await webhook.WaitForAsync(e => (string?)e["uuid"] == uuid, Patience, "the kept unsubscribe event");
        Assert.Equal("unsubscribe", (string?)unsubscribe["event"]);
        Assert.Contains("failed_pushed_events_total", await mailer.MetricsAsync());
    }

    [Fact]
    public async Task Mx_server_refuses_relaying_and_keeps_other_mail()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);

        foreach (var target in new[] { "victim@other.test", $"victim%other.test@{TestWorld.ReturnPathDomain}", $"\"a@other.test\"@{TestWorld.ReturnPathDomain}", $"x@{TestWorld.ReturnPathDomain}." })
        {
            var (refusedCode, refused) = await Swaks.SendAsync(config.Mx, "Subject: relay?\r\n\r\nx\r\n", "--to", target);
            Assert.True(refusedCode != 0, refused);
            // Refused either as not ours (550 5.7.1) or, for the trailing dot, already as bad syntax (501 5.1.3).
            Assert.True(refused.Contains("550 5.7.1", StringComparison.Ordinal) || refused.Contains("501 5.1.3", StringComparison.Ordinal), target + ":\n" + refused);
        }

        var (code, output) = await Swaks.SendAsync(config.Mx, "Subject: a bounce\r\n\r\nsomething\r\n", "--to", $"bounce-abc123@{TestWorld.ReturnPathDomain}", "--from", "<>");
        Assert.True(code == 0, output);
        Assert.Empty(webhook.Events);
        var stored = Directory.GetFiles(config.EmlDirectory, "*.eml");
        Assert.Single(stored);
        Assert.Contains("Subject: a bounce", await File.ReadAllTextAsync(stored[0]));
        Assert.Contains("mxserver_received_unclassified_total 1.0", await mailer.MetricsAsync());
    }
}
