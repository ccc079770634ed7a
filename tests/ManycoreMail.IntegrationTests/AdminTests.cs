using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using ManycoreMail.Cli;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>The sender's operations endpoint and the CLI that drives it, over a real sender (spool, dnsmasq, scripted MX).</summary>
public sealed class AdminTests
{
    private const string Token = "test-admin-token-0123456789";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly string[] Dns =
    [
        "mx-host=held.test,mx.held.test,10", "host-record=mx.held.test,127.0.0.51",
        "mx-host=paused.test,mx.paused.test,10", "host-record=mx.paused.test,127.0.0.52",
    ];

    [Fact]
    public async Task Requests_without_the_bearer_token_are_refused()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        await harness.StartSenderAsync();
        var url = await harness.StartAdminAsync(Token);
        using var http = new HttpClient { BaseAddress = url };

        using var none = await http.GetAsync("admin/queues");
        using var wrong = new HttpRequestMessage(HttpMethod.Post, "admin/retry");
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token + "x");
        using var wrongAnswer = await http.SendAsync(wrong);
        using var right = new HttpRequestMessage(HttpMethod.Get, "admin/queues");
        right.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var rightAnswer = await http.SendAsync(right);

        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongAnswer.StatusCode);
        Assert.Equal(HttpStatusCode.OK, rightAnswer.StatusCode);
        Assert.Contains("\"OUT\"", await rightAnswer.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_suspended_queue_holds_its_mail_without_counting_attempts_and_a_bounce_ends_it()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        var server = harness.StartServer("127.0.0.51", new ScriptedHandler());
        await harness.StartSenderAsync(o => o with { Delivery = o.Delivery with { SuspendedRetry = TimeSpan.FromSeconds(1) } });
        var url = (await harness.StartAdminAsync(Token)).ToString();

        var (code, output) = await CliAsync("queue", "suspend", "spring:held.test", "--admin-url", url, "--admin-token", Token);
        Assert.Equal(0, code);
        Assert.Contains("suspended", output);

        await harness.EnqueueAsync("held1", "someone@held.test");
        // Held: rescheduled every second, never sent, and none of those rounds is an attempt.
        var text = await Eventually.GetAsync(async () =>
        {
            var (c, answer) = await CliAsync("queue", "inspect", "held1", "--admin-url", url, "--admin-token", Token);
            return c == 0 && JsonDocument.Parse(answer).RootElement.GetProperty("uncountedAttempts").GetInt32() >= 2 ? answer : null;
        }, Deadline, "two uncounted reschedules");
        var inspected = JsonDocument.Parse(text).RootElement;
        Assert.Contains("suspended", inspected.GetProperty("lastError").GetString());
        Assert.Equal("spring:held.test", inspected.GetProperty("recipients")[0].GetProperty("queue").GetString());
        Assert.Empty(server.Handler.Delivered);

        var (listCode, list) = await CliAsync("queues", "--admin-url", url, "--admin-token", Token);
        Assert.Equal(0, listCode);
        Assert.Matches(@"spring:held\.test\s+\d+\s+\d+ suspended", list);

        var (bounceCode, bounced) = await CliAsync("queue", "bounce", "spring:*", "--admin-url", url, "--admin-token", Token);
        Assert.Equal(0, bounceCode);
        Assert.Contains("bounce", bounced);
        var bounce = Assert.Single(await harness.WaitForEventsAsync(1, Deadline));

        Assert.Equal("bounce", bounce.GetProperty("event").GetString());
        Assert.Equal("soft", bounce.GetProperty("type").GetString());
        Assert.Contains("bounced by an operator", bounce.GetProperty("reason").GetString());
        Assert.Empty(server.Handler.Delivered);
        var (missing, _) = await CliAsync("queue", "inspect", "held1", "--admin-url", url, "--admin-token", Token);
        Assert.Equal(1, missing);
    }

    [Fact]
    public async Task A_suspended_site_delivers_again_once_resumed()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        var server = harness.StartServer("127.0.0.52", new ScriptedHandler());
        await harness.StartSenderAsync(o => o with { Delivery = o.Delivery with { SuspendedRetry = TimeSpan.FromSeconds(1) } });
        var url = (await harness.StartAdminAsync(Token)).ToString();
        await harness.EnqueueAsync("first", "a@paused.test");
        await harness.WaitForEventsAsync(1, Deadline);

        var (code, output) = await CliAsync("site", "suspend", "mx.paused.test", "--admin-url", url, "--admin-token", Token);
        Assert.Equal(0, code);
        Assert.Contains("suspended", output);
        await harness.EnqueueAsync("second", "b@paused.test");
        await Eventually.GetAsync(async () =>
        {
            var (c, text) = await CliAsync("queue", "inspect", "second", "--admin-url", url, "--admin-token", Token);
            return c == 0 && text.Contains("\"deferred\"", StringComparison.Ordinal) ? text : null;
        }, Deadline, "the message held by the suspended site");
        Assert.Single(server.Handler.Delivered);
        var (listCode, list) = await CliAsync("queues", "--admin-url", url, "--admin-token", Token);
        Assert.Equal(0, listCode);
        Assert.Matches(@"mx\.paused\.test\s+\d+\s+\d+ suspended", list);

        var (resumed, _) = await CliAsync("site", "resume", "mx.paused.test", "--admin-url", url, "--admin-token", Token);
        var (unknown, _) = await CliAsync("site", "resume", "no.such.site", "--admin-url", url, "--admin-token", Token);
        var events = await harness.WaitForEventsAsync(2, Deadline);

        Assert.Equal(0, resumed);
        Assert.Equal(1, unknown);
        Assert.All(events, e => Assert.Equal("delivered", e.GetProperty("event").GetString()));
        Assert.Equal(2, server.Handler.Delivered.Count);
    }

    [Fact]
    public async Task The_mailer_serves_operations_on_the_admin_bind_only()
    {
        using var world = new TestWorld();
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        var adminPort = FreePort.Tcp(IPAddress.Loopback);
        var customer = await File.ReadAllTextAsync(config.CustomerFile);
        await File.WriteAllTextAsync(config.CustomerFile, customer.Replace("\nsender:\n",
            $"\nsender:\n  admin:\n    inet-port: {adminPort}\n    token: {Token}\n", StringComparison.Ordinal));
        await using var mailer = await RunningMailer.StartAsync(config);
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);

        var queues = await http.GetStringAsync($"http://127.0.0.1:{adminPort}/admin/queues");
        using var onApi = await http.GetAsync($"http://127.0.0.1:{config.HttpPort}/admin/queues");
        using var onMetrics = await http.GetAsync($"http://127.0.0.1:{config.HttpMetricsPort}/admin/queues");
        var (code, list) = await CliAsync("queues", "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile);

        Assert.Contains("INCOMING-TO-POSTFIX", queues);
        Assert.Equal(HttpStatusCode.NotFound, onApi.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, onMetrics.StatusCode);
        Assert.Equal(0, code);
        Assert.Contains("EVENT_QUEUE", list);
    }

    [Fact]
    public async Task A_token_on_the_command_line_gets_a_warning_that_ps_shows_it()
    {
        var (_, output, errors) = await CliWithErrorsAsync("queues", "--admin-url", "http://127.0.0.1:9/", "--admin-token", Token);

        Assert.Contains("warning: --admin-token is visible", errors);
        Assert.Contains("--admin-token-file", errors);
        Assert.DoesNotContain(Token, errors + output);
    }

    [Fact]
    public async Task The_token_is_read_from_admin_token_file_without_its_trailing_newline()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        await harness.StartSenderAsync();
        var url = await harness.StartAdminAsync(Token);
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, Token + "\n");

            var (code, output, errors) = await CliWithErrorsAsync("queues", "--admin-url", url.ToString(), "--admin-token-file", file);

            Assert.True(code == 0, output + errors);
            Assert.Contains("DURABLE QUEUE", output);
            Assert.Empty(errors);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task An_unreadable_or_short_admin_token_file_is_an_error_naming_the_file()
    {
        var missing = Path.Combine(Path.GetTempPath(), "mm-no-such-token-" + Guid.NewGuid().ToString("N"));
        var shortFile = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(shortFile, "too-short\n");

            var (missingCode, _, missingOutput) = await CliWithErrorsAsync("queues", "--admin-url", "http://127.0.0.1:9/", "--admin-token-file", missing);
            var (shortCode, _, shortOutput) = await CliWithErrorsAsync("queues", "--admin-url", "http://127.0.0.1:9/", "--admin-token-file", shortFile);

            Assert.Equal(2, missingCode);
            Assert.Contains($"--admin-token-file {missing}: cannot read it", missingOutput);
            Assert.Equal(2, shortCode);
            Assert.Contains($"--admin-token-file {shortFile}: the token must be at least 16 characters", shortOutput);
            Assert.DoesNotContain("too-short", shortOutput.Replace(shortFile, "", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(shortFile);
        }
    }

    /// <summary>The exit code and what the command printed on stdout (its answer; warnings go to stderr).</summary>
    internal static async Task<(int Code, string Output)> CliAsync(params string[] args)
    {
        var (code, output, _) = await CliWithErrorsAsync(args);
        return (code, output);
    }

    internal static async Task<(int Code, string Output, string Errors)> CliWithErrorsAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await MailerCli.Build().Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = errors });
        return (code, output.ToString(), errors.ToString());
    }
}
