using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ManycoreMail.Suppression;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>
/// Forged and genuine reports to the real MX server (issue 16 item 4): swaks delivers them over SMTP from their own
/// 127.0.0.x addresses, dnsmasq serves the SPF, DKIM and DMARC records, dkimpy signs. Only the reports SPF, DKIM and
/// the returned headers vouch for suppress; every one becomes an event that says which it was.
/// </summary>
public sealed class ReportAuthenticationTests(TestWorld world) : IClassFixture<TestWorld>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const string Domain = TestWorld.ReturnPathDomain;
    private const string LoopDomain = "fbl.isp.test";
    private const string Selector = "reports";

    [Fact]
    public async Task Only_authenticated_reports_suppress_and_every_report_event_says_whether_it_was()
    {
        var directory = Directory.CreateTempSubdirectory("mm-reports-").FullName;
        using var loopKey = RSA.Create(2048);
        using var strangerKey = RSA.Create(2048);
        var loopKeyFile = WriteKey(directory, "loop.pem", loopKey);
        var strangerKeyFile = WriteKey(directory, "stranger.pem", strangerKey);
        using var dns = Dnsmasq.Start(
        [
            // The recipient's MTA bounces from 127.0.0.21 only; its HELO name's policy says so.
            "txt-record=mta.bouncer.test,\"v=spf1 ip4:127.0.0.21 -all\"",
            "txt-record=victim.test,\"v=spf1 ip4:127.0.0.30 -all\"",
            "txt-record=_dmarc.victim.test,\"v=DMARC1; p=reject\"",
            "txt-record=_dmarc.stranger.test,\"v=DMARC1; p=reject\"",
            KeyRecord($"{Selector}._domainkey.{LoopDomain}", loopKey),
            KeyRecord($"{Selector}._domainkey.signer.test", strangerKey),
        ]);
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url)
        {
            MxServerExtra = $"""
                  feedback-loops:
                    - domain: isp.test
                  report-authentication-timeout-seconds: 20
                """,
        }.Write();
        await using var mailer = await RunningMailer.StartAsync(config,
            options => options with { Sender = options.Sender with { DnsServers = [dns.EndPoint.ToString()] } });

        string forgedBounce = Messages.NewUuid(), genuineBounce = Messages.NewUuid(), loopComplaint = Messages.NewUuid(),
            strangerComplaint = Messages.NewUuid(), brokenComplaint = Messages.NewUuid(), forgedUnsubscribe = Messages.NewUuid(),
            genuineUnsubscribe = Messages.NewUuid();

        // The forgeries first: the writer keeps order, so once the genuine entries are stored any forged one would be too.
        await SendAsync(config, "127.0.0.22", "mta.bouncer.test", "", $"bounce-{forgedBounce}@{Domain}", Dsn(forgedBounce, "forged@victim.test"));
        await SendAsync(config, "127.0.0.23", "mta.stranger.test", "", $"fbl@{Domain}",
            await SignAsync(Arf(strangerComplaint, "abuse@stranger.test", "complainer1@victim.test"), "signer.test", strangerKeyFile));
        var broken = await SignAsync(Arf(brokenComplaint, $"feedback@{LoopDomain}", "complainer2@victim.test"), LoopDomain, loopKeyFile);
        await SendAsync(config, "127.0.0.24", "mta.isp.test", "", $"fbl@{Domain}", broken.Replace("This is an abuse report", "This is an edited report", StringComparison.Ordinal));
        await SendAsync(config, "127.0.0.31", "mail.victim.test", "reader@victim.test", $"unsub-{forgedUnsubscribe}@{Domain}",
            "From: Reader <reader@victim.test>\r\nSubject: unsubscribe\r\n\r\nplease\r\n");

        await SendAsync(config, "127.0.0.21", "mta.bouncer.test", "", $"bounce-{genuineBounce}@{Domain}", Dsn(genuineBounce, "gone@victim.test"));
        await SendAsync(config, "127.0.0.24", "mta.isp.test", "", $"fbl@{Domain}",
            await SignAsync(Arf(loopComplaint, $"feedback@{LoopDomain}", "complainer3@victim.test"), LoopDomain, loopKeyFile));
        await SendAsync(config, "127.0.0.30", "mail.victim.test", "other.reader@victim.test", $"unsub-{genuineUnsubscribe}@{Domain}",
            "From: Other Reader <other.reader@victim.test>\r\nSubject: unsubscribe\r\n\r\nplease\r\n");

        var expected = new (string Uuid, string Event, bool Authenticated)[]
        {
            (forgedBounce, "bounce", false),
            (strangerComplaint, "spam-report", false),
            (brokenComplaint, "spam-report", false),
            (forgedUnsubscribe, "unsubscribe", false),
            (genuineBounce, "bounce", true),
            (loopComplaint, "spam-report", true),
            (genuineUnsubscribe, "unsubscribe", true),
        };
        foreach (var (uuid, kind, authenticated) in expected)
        {
            var received = await webhook.WaitForAsync(e => (string?)e["uuid"] == uuid, Patience, $"the {kind} event of {uuid}");
            Assert.Equal((kind, authenticated), ((string?)received["event"], (bool?)received["authenticated"]));
        }

        string[] suppressed = ["complainer3@victim.test", "gone@victim.test", "other.reader@victim.test"];
        await Eventually.TrueAsync(async () => (await ListAsync(mailer.Host.Suppressions)).Count >= suppressed.Length, Patience, "the genuine reports' entries");
        Assert.Equal(suppressed, (await ListAsync(mailer.Host.Suppressions)).Select(e => e.Email));
        var metrics = await mailer.MetricsAsync();
        Assert.Contains("mxserver_unauthenticated_reports_total{kind=\"bounce\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("mxserver_unauthenticated_reports_total{kind=\"complaint\"} 2", metrics, StringComparison.Ordinal);
        Assert.Contains("mxserver_unauthenticated_reports_total{kind=\"unsubscribe\"} 1", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bounce_that_passes_spf_but_returns_another_message_is_not_authenticated()
    {
        using var dns = Dnsmasq.Start(["txt-record=mta.bouncer.test,\"v=spf1 ip4:127.0.0.21 -all\""]);
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config,
            options => options with { Sender = options.Sender with { DnsServers = [dns.EndPoint.ToString()] } });
        string named = Messages.NewUuid(), returned = Messages.NewUuid(), rightUuid = Messages.NewUuid();

        // The VERP address names one message, the returned headers another: someone who knows a uuid is guessing.
        await SendAsync(config, "127.0.0.21", "mta.bouncer.test", "", $"bounce-{named}@{Domain}", Dsn(returned, "someone@victim.test").Replace($"To: bounce-{returned}", $"To: bounce-{named}", StringComparison.Ordinal));
        // The right message, but returned headers addressed to someone else than the recipient it reports.
        await SendAsync(config, "127.0.0.21", "mta.bouncer.test", "", $"bounce-{rightUuid}@{Domain}", Dsn(rightUuid, "reported@victim.test", returnedTo: "addressed@victim.test"));

        foreach (var uuid in new[] { named, rightUuid })
        {
            var bounce = await webhook.WaitForAsync(e => (string?)e["uuid"] == uuid, Patience, "the bounce of " + uuid);
            Assert.Equal(("bounce", false), ((string?)bounce["event"], (bool?)bounce["authenticated"]));
        }
        Assert.Empty(await ListAsync(mailer.Host.Suppressions));
    }

    private static async Task SendAsync(MailerConfig config, string client, string helo, string from, string to, string message)
    {
        var (code, output) = await Swaks.SendAsync(config.Mx, message, "--local-interface", client, "--helo", helo, "--from", from.Length == 0 ? "<>" : from, "--to", to);
        Assert.True(code == 0, to + ":\n" + output);
    }

    /// <summary>The message signed by dkimpy with d=<paramref name="domain"/> (relaxed/relaxed, From, To, Subject).</summary>
    private static async Task<string> SignAsync(string message, string domain, string keyFile)
    {
        var file = Path.Combine(Path.GetTempPath(), "mm-sign-" + Guid.NewGuid().ToString("N") + ".eml");
        await File.WriteAllTextAsync(file, message);
        try
        {
            const string script = """
                import sys, dkim
                path, domain, selector, key = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
                message = open(path, "rb").read()
                signature = dkim.sign(message, selector.encode(), domain.encode(), open(key, "rb").read(),
                                      canonicalize=(b"relaxed", b"relaxed"), include_headers=[b"from", b"to", b"subject", b"content-type"])
                open(path + ".signed", "wb").write(signature + message)
                """;
            var (code, output) = await PeerProcess.RunAsync("/usr/bin/python3", ["-c", script, file, domain, Selector, keyFile], TimeSpan.FromSeconds(30));
            Assert.True(code == 0, "dkimpy: " + output);
            return await File.ReadAllTextAsync(file + ".signed");
        }
        finally
        {
            File.Delete(file);
            File.Delete(file + ".signed");
        }
    }

    private static string WriteKey(string directory, string name, RSA key)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, key.ExportRSAPrivateKeyPem());
        return path;
    }

    private static string KeyRecord(string name, RSA key)
    {
        var text = $"v=DKIM1; k=rsa; p={Convert.ToBase64String(key.ExportSubjectPublicKeyInfo())}";
        var chunks = Enumerable.Range(0, (text.Length + 249) / 250).Select(i => text.Substring(i * 250, Math.Min(250, text.Length - i * 250)));
        return $"txt-record={name},{string.Join(",", chunks.Select(c => $"\"{c}\""))}";
    }

    private static async Task<IReadOnlyList<SuppressionEntry>> ListAsync(ISuppressionStore store) =>
        (await store.ListAsync(new SuppressionQuery { Limit = 100 }, CancellationToken.None)).Entries;

    /// <summary>A DSN returning the headers of our message <paramref name="uuid"/>, sent to <paramref name="returnedTo"/>
    /// (by default the recipient it reports).</summary>
    private static string Dsn(string uuid, string recipient, string? returnedTo = null) => Messages.Dsn(uuid, recipient, string.Join("\r\n",
        $"From: News <news@{TestWorld.SenderDomain}>",
        $"To: <{returnedTo ?? recipient}>",
        "Subject: Our news",
        $"Message-ID: <{uuid}@{Domain}>",
        $"X-Uuid: {uuid}"));

    private static string Arf(string uuid, string from, string complainer) => string.Join("\r\n",
        $"From: <{from}>",
        $"To: <fbl@{Domain}>",
        "Subject: FW: Our news",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=feedback-report; boundary=\"arf\"",
        "",
        "--arf",
        "Content-Type: text/plain",
        "",
        "This is an abuse report for a message we received.",
        "--arf",
        "Content-Type: message/feedback-report",
        "",
        "Feedback-Type: abuse",
        "User-Agent: TestFBL/1.0",
        "Version: 1",
        $"Original-Rcpt-To: <{complainer}>",
        "--arf",
        "Content-Type: message/rfc822",
        "",
        $"From: News <news@{TestWorld.SenderDomain}>",
        $"To: <{complainer}>",
        "Subject: Our news",
        $"Message-ID: <{uuid}@{Domain}>",
        $"X-Uuid: {uuid}",
        "",
        "Hello.",
        "--arf--",
        "");
}
