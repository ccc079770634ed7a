using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>Every refusal rule of the two receivers, seen as the client sees it.</summary>
public sealed class RefusalTests(TestWorld world) : IClassFixture<TestWorld>, IAsyncLifetime
{
    private WebhookListener _webhook = null!;
    private MailerConfig _config = null!;
    private RunningMailer _mailer = null!;

    public async Task InitializeAsync()
    {
        _webhook = new WebhookListener();
        _config = new MailerConfig(world, _webhook.Url).Write();
        // Receiver roles only: nothing is delivered, so the queues show exactly what was accepted.
        _mailer = await RunningMailer.StartAsync(_config, ["receiver", "http-receiver"]);
    }

    public async Task DisposeAsync()
    {
        await _mailer.DisposeAsync();
        _webhook.Dispose();
    }

    [Theory]
    [InlineData("From: a@sender.test\r\nTo: b@ok.test\r\nSubject: s\r\n\r\nbody\r\n", "554 5.6.0 Missing header X-Uuid")]
    [InlineData("From: a@sender.test\r\nTo: b@ok.test\r\nX-Uuid: Not-Valid\r\n\r\nbody\r\n", "554 5.6.0 Malformed header X-Uuid, expecting [a-z0-9]+")]
    [InlineData("From: a@sender.test\r\nTo: b@ok.test\r\nX-Uuid: abc\r\nX-Uuid: def\r\n\r\nbody\r\n", "554 5.6.0 Conflicting X-Uuid headers")]
    [InlineData("From: a@sender.test\r\nSubject: nobody\r\nX-Uuid: abc\r\n\r\nbody\r\n", "554 5.6.0 No recipient in the To, Cc or Bcc headers")]
    [InlineData("From: a@sender.test\r\nthis line is no header\r\nX-Uuid: abc\r\n\r\nbody\r\n", "554 5.6.0 Malformed message header")]
    [InlineData("From: a@sender.test\r\nTo: b@ok.test, \"a\tb\"@ok.test\r\nX-Uuid: abc\r\n\r\nbody\r\n",
        "550 5.1.3 Recipient address '\"a\\u0009b\"@ok.test' cannot be delivered: it contains a control character")]
    [InlineData("From: a@sender.test\r\nTo: b@ok.test\r\nCc: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@ok.test\r\nX-Uuid: abc\r\n\r\nbody\r\n",
        "550 5.1.3 Recipient address 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@ok.test' cannot be delivered: its local part is longer than 64 characters")]
    public async Task Smtp_submission_refuses_bad_messages_precisely(string message, string expectedReply)
    {
        var (code, output) = await Swaks.SendAsync(_config.Receiver, message, Swaks.TlsAuth);

        Assert.NotEqual(0, code);
        Assert.Contains(expectedReply, output);
        Assert.Contains("nbr_dropped_emails_total", await _mailer.MetricsAsync());
        Assert.DoesNotContain("nbr_emails_enqueued_total 1.0", await _mailer.MetricsAsync());
    }

    [Fact]
    public async Task Smtp_submission_requires_tls_before_auth_and_auth_before_mail()
    {
        var (noTlsCode, noTls) = await Swaks.SendAsync(_config.Receiver, Messages.Simple("abc", "b@ok.test"),
            "--auth", "PLAIN", "--auth-user", "apa", "--auth-password", "banan");
        Assert.NotEqual(0, noTlsCode);
        Assert.DoesNotContain("250-AUTH", noTls);
        Assert.DoesNotContain("250 AUTH", noTls);

        var (noAuthCode, noAuth) = await Swaks.SendAsync(_config.Receiver, Messages.Simple("abc", "b@ok.test"), "--tls");
        Assert.NotEqual(0, noAuthCode);
        Assert.Contains("530 5.7.0", noAuth);

        var (badCode, bad) = await Swaks.SendAsync(_config.Receiver, Messages.Simple("abc", "b@ok.test"),
            "--tls", "--auth", "LOGIN", "--auth-user", "apa", "--auth-password", "wrong");
        Assert.NotEqual(0, badCode);
        Assert.Contains("535 5.7.8", bad);
        Assert.Contains("receiver_warnings_total 1.0", await _mailer.MetricsAsync());
    }

    [Fact]
    public async Task Smtp_auth_before_starttls_is_refused_with_538()
    {
        using var client = new TcpClient();
        await client.ConnectAsync(_config.Receiver);
        using var stream = client.GetStream();
        using var reader = new StreamReader(stream, Encoding.ASCII);
        await using var writer = new StreamWriter(stream, Encoding.ASCII) { NewLine = "\r\n", AutoFlush = true };
        Assert.StartsWith("220", await reader.ReadLineAsync());
        await writer.WriteLineAsync("EHLO client.test");
        string? line;
        var ehlo = new List<string>();
        do
        {
            line = await reader.ReadLineAsync();
            ehlo.Add(line!);
        }
        while (line is not null && line.StartsWith("250-", StringComparison.Ordinal));
        Assert.Contains(ehlo, l => l.Contains("STARTTLS"));
        Assert.DoesNotContain(ehlo, l => l.Contains("AUTH"));
        await writer.WriteLineAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.ASCII.GetBytes("\0apa\0banan")));
        Assert.StartsWith("538 5.7.11", await reader.ReadLineAsync());
    }

    [Fact]
    public async Task Smtp_accepts_a_valid_message_and_queues_it_by_priority()
    {
        var (code, output) = await Swaks.SendAsync(_config.Receiver, Messages.Simple("prio0", "b@ok.test", "X-Priority: 0\r\n"), Swaks.TlsAuth);
        Assert.True(code == 0, output);
        var (code3, output3) = await Swaks.SendAsync(_config.Receiver, Messages.Simple("prio3", "b@ok.test", "X-Priority: 3 (Normal)\r\n"), Swaks.TlsAuth);
        Assert.True(code3 == 0, output3);
        var metrics = await _mailer.MetricsAsync();
        Assert.Contains("primary_queue_messages 1.0", metrics);
        Assert.Contains("default_queue_messages 1.0", metrics);
    }

    [Theory]
    [InlineData("basic.eml", "application/octet-stream", "admin:secret", HttpStatusCode.OK, null)]
    [InlineData("missing-priority.eml", "application/octet-stream", "admin:secret", HttpStatusCode.OK, null)]
    [InlineData("different-case.eml", "application/octet-stream", "admin:secret", HttpStatusCode.OK, null)]
    [InlineData("basic.eml", "application/zip", "admin:secret", HttpStatusCode.BadRequest, "incorrect content type 'application/zip', expected 'application/octet-stream'")]
    [InlineData("basic.eml", "application/octet-stream; charset=utf-8", "admin:secret", HttpStatusCode.BadRequest, "expected 'application/octet-stream'")]
    [InlineData("basic.eml", "application/octet-stream", null, HttpStatusCode.Unauthorized, null)]
    [InlineData("basic.eml", "application/octet-stream", "guest:guest", HttpStatusCode.Unauthorized, null)]
    [InlineData("invalid-priority.eml", "application/octet-stream", "admin:secret", HttpStatusCode.BadRequest, "Unexpected value '1337' for header X-Priority (expected 0 or 1)")]
    [InlineData("invalid-uuid.eml", "application/octet-stream", "admin:secret", HttpStatusCode.BadRequest, "Malformed header X-Uuid, expecting [a-z0-9]+")]
    [InlineData("missing-uuid.eml", "application/octet-stream", "admin:secret", HttpStatusCode.BadRequest, "Missing header X-Uuid")]
    public async Task Http_api_answers_like_the_original(string fixture, string contentType, string? credentials, HttpStatusCode expected, string? detail)
    {
        using var response = await PostAsync(TestData.Fixture(fixture), contentType, credentials);
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(expected == response.StatusCode, body);
        if (detail is not null)
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains(detail, body);
        }
        if (expected == HttpStatusCode.Unauthorized)
        {
            Assert.True(response.Headers.WwwAuthenticate.Count > 0);
        }
    }

    [Fact]
    public async Task A_quoted_local_part_is_accepted_at_both_doors()
    {
        var message = Messages.Simple("quoted", "\"x>y\"@ok.test");
        var (code, output) = await Swaks.SendAsync(_config.Receiver, message, Swaks.TlsAuth);
        Assert.True(code == 0, output);
        using var response = await PostAsync(Messages.Bytes(message), "application/octet-stream", "admin:secret");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Http_api_refuses_a_recipient_smtp_cannot_carry_naming_it()
    {
        var message = Messages.Simple("abc", "b@ok.test, jörg@ok.test");
        using var response = await PostAsync(Messages.Bytes(message), "application/octet-stream", "admin:secret");
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, body);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = System.Text.Json.JsonDocument.Parse(body);
        Assert.Equal("Recipient address 'j\\u00F6rg@ok.test' cannot be delivered: it contains non-ASCII characters (SMTPUTF8 is not supported)",
            problem.RootElement.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Http_api_queues_the_exact_bytes_on_the_default_queue()
    {
        var bytes = TestData.Fixture("basic.eml");
        using var response = await PostAsync(bytes, "application/octet-stream", "admin:secret");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("default_queue_messages", await _mailer.MetricsAsync());
        Assert.Contains("nbr_recipients_total", await _mailer.MetricsAsync());
    }

    [Fact]
    public async Task Metrics_answer_only_on_the_metrics_ports()
    {
        using var http = new HttpClient();
        using var publicPort = await http.GetAsync($"http://127.0.0.1:{_config.HttpPort}/metrics");
        Assert.Equal(HttpStatusCode.Forbidden, publicPort.StatusCode);
        foreach (var port in new[] { _config.HttpMetricsPort, _config.MetricsPort })
        {
            var text = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics");
            Assert.Contains("nbr_emails_enqueued_total", text);
            Assert.Contains("memory_usage_percent", text);
        }
    }

    private async Task<HttpResponseMessage> PostAsync(byte[] body, string contentType, string? credentials)
    {
        using var http = new HttpClient();
        var content = new ByteArrayContent(body);
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{_config.HttpPort}/v1/mail/send") { Content = content };
        if (credentials is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)));
        }
        return await http.SendAsync(request);
    }
}
