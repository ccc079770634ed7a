using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using ManycoreMail.Roles.MxServer;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>Inbound forwarding (seed 004) against real peers: swaks delivers alias mail to the MX server, the
/// sender takes it to the real recipient's smtp-sink with an SRS envelope sender; bounces to SRS addresses go
/// back; nothing else is relayed; POST /v1/email with its bearer token; 4xx / 503 while the relay is down.</summary>
public sealed class ForwardingTests(TestWorld world) : IClassFixture<TestWorld>
{
    internal const string Secret = "forwarding-test-secret-0123456789";
    internal const string Psk = "pipe-token-0123456789abcdef";
    private const string AliasDomain = "alias.test";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly Regex Srs0 = new("^SRS0=[A-Za-z0-9+/]{6}=[A-Z2-7]{2}=orig\\.test=carol@returns\\.sender\\.test$");

    private static SrsRewriter Srs => new([Secret], TestWorld.ReturnPathDomain);

    [Fact]
    public async Task Alias_mail_reaches_the_real_recipients_with_an_srs_envelope_sender_that_reverses_to_the_original()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = WriteConfig(world, webhook.Url, Route("sender"));
        await using var mailer = await RunningMailer.StartAsync(config);

        const string message = "From: Carol <carol@orig.test>\r\nTo: info@alias.test\r\nSubject: for the team\r\nMessage-ID: <fwd-1@orig.test>\r\n\r\nHello team\r\n";
        var (code, output) = await Swaks.SendAsync(config.Mx, message, "--from", "carol@orig.test", "--to", "info@alias.test,Sales@ALIAS.test");
        Assert.True(code == 0, output);

        var sunk = await sink.WaitForMessagesAsync(2, Patience);
        var team = Assert.Single(sunk, m => m.Recipients.SequenceEqual(["alice@ok.test", "bob@ok.test"]));
        var sales = Assert.Single(sunk, m => m.Recipients.SequenceEqual(["team@ok.test"]));
        foreach (var forwarded in new[] { team, sales })
        {
            Assert.Matches(Srs0, forwarded.MailFrom);
            Assert.Equal(new SrsReversal(SrsReversalStatus.Valid, "carol@orig.test"), Srs.Reverse(forwarded.MailFrom, DateTimeOffset.UtcNow));
            Assert.EndsWith(message, forwarded.Text, StringComparison.Ordinal); // the original, untouched, below our trace fields
            Assert.Contains("by mailer.sender.test (Manycore Mail) with ESMTP", forwarded.Text, StringComparison.Ordinal);
        }
        Assert.StartsWith("Delivered-To: info@alias.test\r\n", team.Text, StringComparison.Ordinal);
        Assert.StartsWith("Delivered-To: sales@alias.test\r\n", sales.Text, StringComparison.Ordinal);
        Assert.Contains("mxserver_forwarded_total 2", await mailer.MetricsAsync(), StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(config.EmlDirectory, "*.eml"));

        // A mail that was delivered to the alias before is a loop: refused for good, not sent again.
        var (loopCode, loop) = await Swaks.SendAsync(config.Mx, "Delivered-To: info@alias.test\r\n" + message, "--from", "carol@orig.test", "--to", "info@alias.test");
        Assert.True(loopCode != 0 && loop.Contains("<** 554 5.4.6", StringComparison.Ordinal), loop);

        // The null sender stays null.
        var (nullCode, nullOutput) = await Swaks.SendAsync(config.Mx, message, "--from", "<>", "--to", "info@alias.test");
        Assert.True(nullCode == 0, nullOutput);
        var bounced = (await sink.WaitForMessagesAsync(3, Patience)).Single(m => m.MailFrom.Length == 0);
        Assert.Equal(["alice@ok.test", "bob@ok.test"], bounced.Recipients);
    }

    [Fact]
    public async Task Bounces_to_srs_addresses_go_back_to_the_original_sender_and_nothing_else_is_relayed()
    {
        using var okSink = await world.StartSinkAsync("ok.test");
        using var otherSink = await world.StartSinkAsync("other.test");
        using var webhook = new WebhookListener();
        var config = WriteConfig(world, webhook.Url, Route("sender"));
        await using var mailer = await RunningMailer.StartAsync(config);

        string[] refused =
        [
            "victim@other.test",
            "nobody@only.test", // an alias domain, but not one of its aliases
            "victim%other.test@alias.test",
            "other.test!victim@alias.test",
            "\"victim@other.test\"@alias.test",
            "victim@alias.test.",
            "victim@[127.0.0.6]",
            Srs.Forward("victim@other.test", DateTimeOffset.UtcNow).Replace("=other.test=", "=other.tesu=", StringComparison.Ordinal),
            Srs.Forward("victim@other.test", DateTimeOffset.UtcNow.AddDays(-30)),
            "SRS0=AAAAAA=AA=other.test=victim@returns.sender.test",
            "SRS1=AAAAAA=other.test==AAAA=AA=x.test=victim@returns.sender.test",
        ];
        foreach (var target in refused)
        {
            var (code, output) = await Swaks.SendAsync(config.Mx, "Subject: relay?\r\n\r\nx\r\n", "--from", "<>", "--to", target);
            Assert.True(code != 0 && output.Contains("<** 5", StringComparison.Ordinal), target + " was not refused:\n" + output);
        }

        // A real bounce for a forwarded mail: back to the original sender, with the null sender.
        var address = Srs.Forward("carol@ok.test", DateTimeOffset.UtcNow);
        var (bounceCode, bounce) = await Swaks.SendAsync(config.Mx, "From: MAILER-DAEMON@far.test\r\nSubject: Undelivered Mail\r\n\r\nSorry.\r\n",
            "--from", "<>", "--to", address.ToLowerInvariant());
        Assert.True(bounceCode == 0, bounce);
        var returned = Assert.Single(await okSink.WaitForMessagesAsync(1, Patience));
        Assert.Equal("", returned.MailFrom);
        Assert.Equal(["carol@ok.test"], returned.Recipients);
        Assert.Contains("Subject: Undelivered Mail", returned.Text, StringComparison.Ordinal);
        Assert.Contains("mxserver_srs_returned_total 1", await mailer.MetricsAsync(), StringComparison.Ordinal);

        Assert.Empty(otherSink.Messages());
        Assert.Single(okSink.Messages());
    }

    [Fact]
    public async Task Through_a_relay_a_temporary_failure_is_4xx_and_503_and_post_v1_email_forwards_with_its_token()
    {
        using var webhook = new WebhookListener();
        var relay = new IPEndPoint(TestWorld.MxAddresses["other.test"], world.SmtpPort);
        var httpPort = FreePort.Tcp();
        var config = WriteConfig(world, webhook.Url, Route("relay", relay) + HttpBind(httpPort));
        await using var mailer = await RunningMailer.StartAsync(config);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        const string message = "From: carol@orig.test\r\nSubject: via relay\r\n\r\nHello\r\n";

        // The relay is down: the sending server is told to retry, the pipe gets a 503.
        var (downCode, down) = await Swaks.SendAsync(config.Mx, message, "--from", "carol@orig.test", "--to", "info@alias.test");
        Assert.True(downCode != 0 && down.Contains("<** 451 4.4.0", StringComparison.Ordinal), down);
        using (var response = await PostAsync(http, Psk, "Return-Path: <carol@orig.test>\nX-Original-To: info@alias.test\n" + message.Replace("\r\n", "\n", StringComparison.Ordinal)))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.NotNull(response.Headers.RetryAfter);
        }
        using (var response = await PostAsync(http, "wrong-token-0123456789", message, "?recipient=info@alias.test"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        using (var response = await PostAsync(http, null, message, "?recipient=info@alias.test"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        using (var response = await PostAsync(http, Psk, message, "?recipient=nobody@only.test"))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
        using (var response = await PostAsync(http, Psk, message))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        using var sink = await SmtpSink.StartAsync(relay.Address, relay.Port);
        var (upCode, up) = await Swaks.SendAsync(config.Mx, message, "--from", "carol@orig.test", "--to", "info@alias.test");
        Assert.True(upCode == 0, up);
        using (var response = await PostAsync(http, Psk, message, "?recipient=anyone%2Btag@alias.test&sender=carol@orig.test"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        using (var response = await PostAsync(http, Psk, "Return-Path: <carol@orig.test>\nX-Original-To: info@alias.test\n" + message.Replace("\r\n", "\n", StringComparison.Ordinal)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var sunk = await sink.WaitForMessagesAsync(3, Patience);
        Assert.All(sunk, m => Assert.Equal("carol@orig.test", Srs.Reverse(m.MailFrom, DateTimeOffset.UtcNow).Address));
        Assert.Equal(2, sunk.Count(m => m.Recipients.SequenceEqual(["alice@ok.test", "bob@ok.test"])));
        var catchAll = Assert.Single(sunk, m => m.Recipients.SequenceEqual(["team@ok.test"]));
        Assert.StartsWith("Delivered-To: anyone+tag@alias.test\r\nReceived: from local-mta", catchAll.Text, StringComparison.Ordinal);
        // The LF of the pipe became CRLF.
        Assert.Contains("Subject: via relay\r\n\r\nHello\r\n", sunk.Single(m => m.Text.Contains("X-Original-To", StringComparison.Ordinal)).Text, StringComparison.Ordinal);
    }

    internal static async Task<HttpResponseMessage> PostAsync(HttpClient http, string? token, string message, string query = "")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/email" + query) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(message)) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("message/rfc822");
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return await http.SendAsync(request);
    }

    internal static string Route(string route, IPEndPoint? relay = null) => $"""
            route: {route}

        """ + (relay is null ? "" : $"""
            relay:
              host: {relay.Address}
              port: {relay.Port}
              tls: none

        """);

    internal static string HttpBind(int port) => $"""
            http-bind:
              inet-interface: 127.0.0.1
              inet-port: {port}
            psk: {Psk}

        """;

    /// <summary>The test world's configuration plus an mxserver/forwarding section (inserted under mxserver).</summary>
    internal static MailerConfig WriteConfig(TestWorld world, string webhookUrl, string extra)
    {
        var config = new MailerConfig(world, webhookUrl).Write();
        var forwarding = $"""
              forwarding:
                aliases:
                  - alias: info@{AliasDomain}
                    to: [alice@ok.test, bob@ok.test]
                  - alias: "@{AliasDomain}"
                    to: team@ok.test
                  - alias: somebody@only.test
                    to: alice@ok.test
                srs-secret: {Secret}
                srs-domain: {TestWorld.ReturnPathDomain}

            """ + extra;
        var customer = File.ReadAllText(config.CustomerFile);
        var anchor = $"  eml-directory: {config.EmlDirectory}\n";
        Assert.Contains(anchor, customer, StringComparison.Ordinal);
        File.WriteAllText(config.CustomerFile, customer.Replace(anchor, anchor + forwarding, StringComparison.Ordinal));
        return config;
    }
}
