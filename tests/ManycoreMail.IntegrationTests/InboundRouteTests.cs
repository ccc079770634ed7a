using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>
/// <c>mxserver/inbound-routes</c> against real peers: swaks sends to the MX server, a local listener stands for the
/// customer's URL (answering 500 when told), dnsmasq serves DNS (the DKIM key of the world's sending domain), dkimpy
/// signs, smtp-sink receives the bounce report. Signatures are checked with an HMAC computed here, not with our signer.
/// </summary>
public sealed class InboundRouteTests(TestWorld world) : IClassFixture<TestWorld>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private const string RoutedDomain = "in.test";
    private static readonly string Secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private static readonly string RotatedSecret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));

    private static MailerConfig Config(TestWorld world, WebhookListener events, WebhookListener customer, string format, int lifetimeSeconds = 3600) =>
        new MailerConfig(world, events.Url)
        {
            MaxQueueLifetimeSeconds = lifetimeSeconds,
            MxServerExtra = $"""
                  inbound-first-retry-seconds: 1
                  inbound-max-retry-seconds: 1
                  inbound-routes:
                    - match: "support@{RoutedDomain}"
                      url: "http://127.0.0.1:{customer.Port}/hooks/inbound"
                      format: {format}
                      secrets: ["{Secret}", "{RotatedSecret}"]
                """,
            BackdataExtra = "  event-types: [inbound]",
        }.Write();

    [Fact]
    public async Task A_json_route_gets_the_parsed_mail_signed_with_every_secret_and_an_inbound_event_follows()
    {
        using var events = new WebhookListener();
        using var customer = new WebhookListener { AcceptAnyBody = true };
        var config = Config(world, events, customer, "json");
        await using var mailer = await RunningMailer.StartAsync(config);
        var attachment = RandomNumberGenerator.GetBytes(3000);

        var (code, output) = await Swaks.SendAsync(config.Mx, MultipartMail(attachment), "--to", $"support@{RoutedDomain}", "--from", "client@submitter.test");
        Assert.True(code == 0, output);

        var request = await Eventually.GetAsync(() => Task.FromResult(customer.Recorded.FirstOrDefault()), Patience, "the POST of the inbound mail");
        Assert.Equal("/hooks/inbound", request.Path);
        Assert.StartsWith("application/json", request.ContentType, StringComparison.Ordinal);
        AssertSignedWithBoth(request);
        var json = JsonNode.Parse(request.Body)!.AsObject();
        Assert.Equal(request.Header("webhook-id"), (string?)json["id"]);
        Assert.Equal("client@submitter.test", (string?)json["envelope"]!["mail_from"]);
        Assert.Equal($"support@{RoutedDomain}", (string?)json["envelope"]!["rcpt_to"]![0]);
        Assert.Equal(("Jörg Sender", "client@submitter.test"), ((string?)json["from"]!["name"], (string?)json["from"]!["email"]));
        Assert.Equal($"support@{RoutedDomain}", (string?)json["to"]![0]!["email"]);
        Assert.Equal("other@ok.test", (string?)json["cc"]![0]!["email"]);
        Assert.Equal("Grüße aus Köln", (string?)json["subject"]);
        Assert.Equal("2026-12-06T10:00:00Z", (string?)json["date"]);
        Assert.Equal("m1@submitter.test", (string?)json["message_id"]);
        Assert.Equal("parent@in.test", (string?)json["in_reply_to"]);
        Assert.Equal("Grüße aus Köln, in Latin-1 quoted-printable", ((string?)json["text"])!.TrimEnd());
        Assert.Equal("<p>Grüße in UTF-8 base64</p>", ((string?)json["html"])!.TrimEnd());
        var headers = json["headers"]!.AsArray().Select(h => ((string?)h![0], (string?)h[1])).ToList();
        Assert.Equal("Authentication-Results", headers[0].Item1);
        Assert.Contains(("Subject", "Grüße aus Köln"), headers);
        Assert.Contains(("X-Custom", "kept as sent"), headers);
        var file = Assert.Single(json["attachments"]!.AsArray())!;
        Assert.Equal(("data.bin", "application/octet-stream", 3000), ((string?)file["filename"], (string?)file["content_type"], (int)file["size"]!));
        Assert.Equal(attachment, Convert.FromBase64String((string)file["content"]!));
        Assert.Equal("none", (string?)json["spf"]);
        Assert.Equal("none", (string?)json["dkim"]);
        Assert.True((int)json["size"]! > 3000);

        var inbound = await events.WaitForAsync(e => (string?)e["event"] == "inbound", Patience, "the inbound event");
        Assert.Equal(((string?)json["id"], $"support@{RoutedDomain}", "127.0.0.1", 200),
            ((string?)inbound["uuid"], (string?)inbound["email"], (string?)inbound["host"], (int)inbound["status"]!));
        Assert.Contains("mailer_inbound_posts_total{status=\"200\"} 1", await mailer.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Only_routed_addresses_are_accepted_and_nothing_is_relayed()
    {
        using var events = new WebhookListener();
        using var customer = new WebhookListener { AcceptAnyBody = true };
        var config = Config(world, events, customer, "json");
        await using var mailer = await RunningMailer.StartAsync(config);

        foreach (var target in new[] { $"sales@{RoutedDomain}", $"support@sub.{RoutedDomain}", $"support%other.test@{RoutedDomain}", "support@other.test" })
        {
            var (code, output) = await Swaks.SendAsync(config.Mx, "Subject: x\r\n\r\nx\r\n", "--to", target, "--quit-after", "RCPT");
            Assert.True(code != 0 && output.Contains("<** 550", StringComparison.Ordinal), target + " was not refused:\n" + output);
        }
        var (accepted, log) = await Swaks.SendAsync(config.Mx, "Subject: x\r\n\r\nx\r\n", "--to", $"SUPPORT@{RoutedDomain.ToUpperInvariant()}", "--quit-after", "RCPT");
        Assert.True(accepted == 0, log);
    }

    [Fact]
    public async Task A_raw_route_is_retried_while_the_url_answers_500_then_gets_the_same_id_and_the_bytes_as_sent()
    {
        using var events = new WebhookListener();
        using var customer = new WebhookListener { AcceptAnyBody = true, FailNext = 2 };
        var config = Config(world, events, customer, "raw");
        await using var mailer = await RunningMailer.StartAsync(config);
        var sent = MultipartMail(RandomNumberGenerator.GetBytes(500));

        // swaks ends DATA with CRLF.CRLF, whose first CRLF is the message's last line end.
        var (code, output) = await Swaks.SendAsync(config.Mx, sent[..^2], "--to", $"support@{RoutedDomain}", "--from", "client@submitter.test");
        Assert.True(code == 0, output);

        var taken = await Eventually.GetAsync(() => Task.FromResult(customer.Recorded.FirstOrDefault(r => r.Status == 200)), Patience, "the POST answered 200");
        var all = customer.Recorded;
        Assert.Equal([500, 500, 200], all.Select(r => r.Status));
        Assert.Single(all.Select(r => r.Header("webhook-id")).Distinct());
        Assert.Equal("message/rfc822", taken.ContentType);
        AssertSignedWithBoth(taken);
        // Our trace fields above the message, then the message byte for byte as swaks sent it.
        var bytes = Encoding.UTF8.GetBytes(sent);
        Assert.True(taken.Body.AsSpan().EndsWith(bytes), "the posted message does not end with the bytes sent:\n" + Encoding.UTF8.GetString(taken.Body));
        var trace = Encoding.ASCII.GetString(taken.Body, 0, taken.Body.Length - bytes.Length);
        Assert.StartsWith("Authentication-Results: mailer.sender.test;\r\n\tspf=none", trace, StringComparison.Ordinal);
        Assert.Contains("Received: from client.test ([127.0.0.1])", trace, StringComparison.Ordinal);
        var metrics = await mailer.MetricsAsync();
        Assert.Contains("mailer_inbound_posts_total{status=\"500\"} 2", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_queued_mail_survives_a_restart_and_is_posted_after_it_with_the_same_id()
    {
        using var events = new WebhookListener();
        using var customer = new WebhookListener { AcceptAnyBody = true, FailWith = System.Net.HttpStatusCode.InternalServerError };
        var config = Config(world, events, customer, "json");
        await using (var first = await RunningMailer.StartAsync(config))
        {
            var (code, output) = await Swaks.SendAsync(config.Mx, "From: writer@ok.test\r\nSubject: kept\r\n\r\nHello\r\n",
                "--to", $"support@{RoutedDomain}", "--from", "writer@ok.test");
            Assert.True(code == 0, output);
            await Eventually.TrueAsync(() => customer.Recorded.Count > 0, Patience, "a first, refused POST");
        }
        var refusedId = customer.Recorded[0].Header("webhook-id");

        customer.FailWith = null;
        await using var second = await RunningMailer.StartAsync(config);

        var taken = await Eventually.GetAsync(() => Task.FromResult(customer.Recorded.FirstOrDefault(r => r.Status == 200)), Patience, "the POST after the restart");
        Assert.Equal(refusedId, taken.Header("webhook-id"));
        Assert.Equal(refusedId, (string?)JsonNode.Parse(taken.Body)!["id"]);
        Assert.Equal("Hello", ((string?)JsonNode.Parse(taken.Body)!["text"])!.TrimEnd());
    }

    [Fact]
    public async Task A_mail_signed_by_dkimpy_shows_dkim_pass()
    {
        using var events = new WebhookListener();
        using var customer = new WebhookListener { AcceptAnyBody = true };
        var config = Config(world, events, customer, "json");
        await using var mailer = await RunningMailer.StartAsync(config);
        var signed = await SignWithDkimpyAsync(
            $"From: news@{TestWorld.SenderDomain}\r\nTo: support@{RoutedDomain}\r\nSubject: signed\r\nMessage-ID: <s1@sender.test>\r\n\r\nA signed body.\r\n");

        var (code, output) = await Swaks.SendAsync(config.Mx, signed, "--to", $"support@{RoutedDomain}", "--from", $"news@{TestWorld.SenderDomain}");
        Assert.True(code == 0, output);

        var request = await Eventually.GetAsync(() => Task.FromResult(customer.Recorded.FirstOrDefault()), Patience, "the POST of the signed mail");
        var json = JsonNode.Parse(request.Body)!.AsObject();
        Assert.Equal("pass", (string?)json["dkim"]);
        var signature = Assert.Single(json["dkim_signatures"]!.AsArray())!;
        Assert.Equal(("pass", TestWorld.SenderDomain, TestWorld.Selector),
            ((string?)signature["result"], (string?)signature["domain"], (string?)signature["selector"]));
        Assert.Equal("A signed body.", ((string?)json["text"])!.TrimEnd());
    }

    [Fact]
    public async Task A_mail_the_url_never_takes_bounces_to_its_sender_after_the_queue_lifetime()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var events = new WebhookListener();
        using var customer = new WebhookListener { AcceptAnyBody = true, FailWith = System.Net.HttpStatusCode.ServiceUnavailable };
        var config = Config(world, events, customer, "json", lifetimeSeconds: 3);
        await using var mailer = await RunningMailer.StartAsync(config);

        var (code, output) = await Swaks.SendAsync(config.Mx, "From: writer@ok.test\r\nSubject: never taken\r\nMessage-ID: <lost@ok.test>\r\n\r\nHello\r\n",
            "--to", $"support@{RoutedDomain}", "--from", "writer@ok.test");
        Assert.True(code == 0, output);

        // A bounce from the null sender: it bounces too, but no report goes anywhere.
        (code, output) = await Swaks.SendAsync(config.Mx, "From: daemon@ok.test\r\nSubject: a report\r\n\r\nHello\r\n",
            "--to", $"support@{RoutedDomain}", "--from", "<>");
        Assert.True(code == 0, output);

        // A sender SPF does not confirm (submitter.test publishes no SPF): its bounce is an event, and no report is made,
        // since a report to a forged sender would be backscatter.
        (code, output) = await Swaks.SendAsync(config.Mx, "From: someone@submitter.test\r\nSubject: unconfirmed\r\n\r\nHello\r\n",
            "--to", $"support@{RoutedDomain}", "--from", "someone@submitter.test");
        Assert.True(code == 0, output);

        await Eventually.TrueAsync(() => events.Events.Count(e => (string?)e["event"] == "bounce") == 3, Patience, "three bounce events");
        var bounces = events.Events.Where(e => (string?)e["event"] == "bounce").ToList();
        Assert.All(bounces, bounce =>
        {
            Assert.Equal(("soft", $"support@{RoutedDomain}"), ((string?)bounce["type"], (string?)bounce["email"]));
            Assert.Contains("not delivered within", (string?)bounce["reason"], StringComparison.Ordinal);
        });
        Assert.Equal(3, bounces.Select(b => (string?)b["uuid"]).Distinct().Count());
        var metrics = await mailer.MetricsAsync();
        Assert.Contains("mailer_inbound_bounced_total 3", metrics, StringComparison.Ordinal);
        Assert.Contains("mailer_inbound_bounce_reports_total 1", metrics, StringComparison.Ordinal);
        var report = Assert.Single(await sink.WaitForMessagesAsync(1, Patience));
        Assert.Equal("", report.MailFrom.Trim('<', '>'));
        Assert.Equal(["writer@ok.test"], report.Recipients);
        var parsed = MimeKit.MimeMessage.Load(new MemoryStream(report.Message));
        var multipart = Assert.IsType<MimeKit.MultipartReport>(parsed.Body);
        Assert.Equal("delivery-status", multipart.ReportType);
        var status = Assert.IsType<MimeKit.MessageDeliveryStatus>(multipart[1]);
        var recipient = status.StatusGroups[1];
        Assert.Equal(("rfc822; support@in.test", "failed", "4.4.7"), (recipient["Final-Recipient"], recipient["Action"], recipient["Status"]));
        Assert.Contains("Message-ID: <lost@ok.test>", report.Text, StringComparison.Ordinal);
        // A second, independent parser: Python's email package sees the same report.
        const string script = """
            import sys, email
            message = email.message_from_bytes(open(sys.argv[1], "rb").read())
            parts = [p.get_content_type() for p in message.walk()]
            status = message.get_payload()[1].get_payload()
            print(message.get_content_type(), message.get_param("report-type"), ",".join(parts[1:]))
            print(status[1]["Final-Recipient"], status[1]["Action"], status[1]["Status"])
            """;
        var reportFile = Path.Combine(world.Directory, Guid.NewGuid().ToString("N") + ".eml");
        await File.WriteAllBytesAsync(reportFile, report.Message);
        var (pythonCode, python) = await PeerProcess.RunAsync("/usr/bin/python3", ["-c", script, reportFile], TimeSpan.FromSeconds(30));
        Assert.True(pythonCode == 0, python);
        Assert.StartsWith("multipart/report delivery-status text/plain,message/delivery-status,", python, StringComparison.Ordinal);
        Assert.Contains(",text/rfc822-headers\n", python, StringComparison.Ordinal);
        Assert.Contains("rfc822; support@in.test failed 4.4.7", python, StringComparison.Ordinal);
        Assert.True(customer.Requests >= 1);
        Assert.DoesNotContain(events.Events, e => (string?)e["event"] == "inbound");
    }

    /// <summary>Checks every v1 signature against an HMAC computed here: one per secret, in the configured order.</summary>
    private static void AssertSignedWithBoth(RecordedRequest request)
    {
        var id = request.Header("webhook-id");
        var timestamp = request.Header("webhook-timestamp");
        Assert.False(string.IsNullOrEmpty(id));
        Assert.InRange(long.Parse(timestamp, System.Globalization.CultureInfo.InvariantCulture),
            DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds());
        var signed = Encoding.UTF8.GetBytes($"{id}.{timestamp}.").Concat(request.Body).ToArray();
        var expected = new[] { Secret, RotatedSecret }
            .Select(s => "v1," + Convert.ToBase64String(HMACSHA256.HashData(Convert.FromBase64String(s["whsec_".Length..]), signed)));
        Assert.Equal(expected, request.Header("webhook-signature").Split(' '));
    }

    private async Task<string> SignWithDkimpyAsync(string message)
    {
        var input = Path.Combine(world.Directory, Guid.NewGuid().ToString("N") + ".eml");
        var signedFile = input + ".signed";
        await File.WriteAllTextAsync(input, message);
        const string script = """
            import sys, dkim
            message = open(sys.argv[1], "rb").read()
            key = open(sys.argv[2], "rb").read()
            signature = dkim.sign(message, sys.argv[3].encode(), sys.argv[4].encode(), key, include_headers=[b"from", b"to", b"subject", b"message-id"])
            open(sys.argv[5], "wb").write(signature + message)
            """;
        var (code, output) = await PeerProcess.RunAsync("/usr/bin/python3",
            ["-c", script, input, world.DkimKeyFile, TestWorld.Selector, TestWorld.SenderDomain, signedFile], TimeSpan.FromSeconds(30));
        Assert.True(code == 0, output);
        return (await File.ReadAllTextAsync(signedFile)).ReplaceLineEndings("\r\n");
    }

    private static string MultipartMail(byte[] attachment) => string.Join("\r\n",
        "From: =?UTF-8?Q?J=C3=B6rg_Sender?= <client@submitter.test>",
        $"To: Support <support@{RoutedDomain}>",
        "Cc: other@ok.test",
        "Subject: =?UTF-8?B?" + Convert.ToBase64String(Encoding.UTF8.GetBytes("Grüße aus Köln")) + "?=",
        "Date: Sun, 06 Dec 2026 10:00:00 +0000",
        "Message-ID: <m1@submitter.test>",
        "In-Reply-To: <parent@in.test>",
        "X-Custom: kept as sent",
        "MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=\"mixed\"",
        "",
        "--mixed",
        "Content-Type: multipart/alternative; boundary=\"alt\"",
        "",
        "--alt",
        "Content-Type: text/plain; charset=iso-8859-1",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "Gr=FC=DFe aus K=F6ln, in Latin-1 quoted-printable",
        "--alt",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        "",
        Convert.ToBase64String(Encoding.UTF8.GetBytes("<p>Grüße in UTF-8 base64</p>")),
        "--alt--",
        "--mixed",
        "Content-Type: application/octet-stream; name=\"data.bin\"",
        "Content-Disposition: attachment; filename=\"data.bin\"",
        "Content-Transfer-Encoding: base64",
        "",
        Convert.ToBase64String(attachment, Base64FormattingOptions.InsertLineBreaks),
        "--mixed--",
        "");
}
