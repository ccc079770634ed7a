using System.Text.Json.Nodes;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>The MX server against real peers: swaks delivers each kind of mail the world sends back, and the
/// right event reaches the webhook listener; every relay trick is refused and nothing reaches a sink.</summary>
public sealed class MxServerTests(TestWorld world) : IClassFixture<TestWorld>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private const string Domain = TestWorld.ReturnPathDomain;

    [Fact]
    public async Task Each_kind_of_returned_mail_becomes_its_event()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        string bounceUuid = Messages.NewUuid(), lostUuid = Messages.NewUuid(), feedbackUuid = Messages.NewUuid(),
            autoReplyUuid = Messages.NewUuid(), unsubscribeUuid = Messages.NewUuid();

        await SendAsync(config, $"bounce-{bounceUuid}@{Domain}", Dsn(bounceUuid, "gone@ok.test", "5.1.1", "550 5.1.1 <gone@ok.test>: User unknown"));
        // The VERP address was lost (sent to postmaster): the uuid comes from the returned original's Message-ID.
        await SendAsync(config, $"postmaster@{Domain}", Dsn(lostUuid, "full@ok.test", "4.2.2", "452 4.2.2 Mailbox full"));
        await SendAsync(config, $"fbl@{Domain}", Arf(feedbackUuid, "complainer@ok.test"));
        await SendAsync(config, $"bounce-{autoReplyUuid}@{Domain}", AutoReply());
        await SendAsync(config, $"unsub-{unsubscribeUuid}@{Domain}", "From: reader@ok.test\r\nSubject: unsubscribe\r\n\r\nplease\r\n");
        await SendAsync(config, $"hello@{Domain}", "From: someone@ok.test\r\nSubject: hello\r\n\r\nJust a note.\r\n");

        var bounce = await EventFor(webhook, bounceUuid);
        Assert.Equal(("bounce", "hard", "userunknown", "gone@ok.test"), (Text(bounce, "event"), Text(bounce, "type"), Text(bounce, "class"), Text(bounce, "email")));
        Assert.Contains("User unknown", Text(bounce, "reason"), StringComparison.Ordinal);
        var delayed = await EventFor(webhook, lostUuid);
        Assert.Equal(("bounce", "soft", "mailboxfull", "full@ok.test"), (Text(delayed, "event"), Text(delayed, "type"), Text(delayed, "class"), Text(delayed, "email")));
        var complaint = await EventFor(webhook, feedbackUuid);
        Assert.Equal(("spam-report", "complainer@ok.test"), (Text(complaint, "event"), Text(complaint, "email")));
        var autoReply = await EventFor(webhook, autoReplyUuid);
        Assert.Equal(("bounce", "autoreply"), (Text(autoReply, "event"), Text(autoReply, "type")));
        var unsubscribe = await EventFor(webhook, unsubscribeUuid);
        Assert.Equal("unsubscribe", Text(unsubscribe, "event"));

        // Only the ordinary mail is kept, and each kind is counted.
        var stored = Assert.Single(Directory.GetFiles(config.EmlDirectory, "*.eml"));
        Assert.Contains("Subject: hello", await File.ReadAllTextAsync(stored), StringComparison.Ordinal);
        var metrics = await mailer.MetricsAsync();
        Assert.Contains("mxserver_received_bounce_total{type=\"hard\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("mxserver_received_bounce_total{type=\"soft\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("mxserver_received_bounce_total{type=\"autoreply\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("mxserver_received_spam_total 1", metrics, StringComparison.Ordinal);
        Assert.Contains("mxserver_received_unsubscribe_total 1", metrics, StringComparison.Ordinal);
        Assert.Contains("mxserver_received_autoreply_total 1", metrics, StringComparison.Ordinal);
        Assert.Contains("mxserver_received_unclassified_total 1", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_relay_trick_is_refused_and_nothing_reaches_the_target()
    {
        using var sink = await world.StartSinkAsync("other.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);

        string[] tricks =
        [
            "victim@other.test",
            "victim@OTHER.TEST",
            $"victim%other.test@{Domain}",
            $"victim%other.test@{Domain.ToUpperInvariant()}",
            $"other.test!victim@{Domain}",
            $"@{Domain}:victim@other.test",
            $"\"victim@other.test\"@{Domain}",
            $"\"victim%other.test\"@{Domain}",
            "victim@[127.0.0.6]",
            $"victim@{Domain}.",
            $"victim@{Domain}.other.test",
            "victim@other.test.",
        ];
        foreach (var target in tricks)
        {
            var (code, output) = await Swaks.SendAsync(config.Mx, "Subject: relay?\r\n\r\nx\r\n", "--to", target, "--quit-after", "RCPT");
            Assert.True(code != 0, target + " was accepted:\n" + output);
            Assert.True(output.Contains("<** 5", StringComparison.Ordinal), target + " was not refused permanently:\n" + output);
        }
        // The full conversation too, in case a server accepted at DATA what it seemed to refuse at RCPT.
        var (fullCode, full) = await Swaks.SendAsync(config.Mx, "Subject: relay?\r\n\r\nx\r\n", "--to", $"victim%other.test@{Domain}");
        Assert.True(fullCode != 0, full);

        // Our own domain in any letter case is ours (and kept, not forwarded anywhere).
        var (ownCode, own) = await Swaks.SendAsync(config.Mx, "Subject: ours\r\n\r\nx\r\n", "--to", $"someone@{Domain.ToUpperInvariant()}");
        Assert.True(ownCode == 0, own);
        Assert.Single(Directory.GetFiles(config.EmlDirectory, "*.eml"));
        Assert.Empty(sink.Messages());
        Assert.Contains("mxserver_warnings_total", await mailer.MetricsAsync(), StringComparison.Ordinal);
    }

    private static async Task SendAsync(MailerConfig config, string to, string message)
    {
        var (code, output) = await Swaks.SendAsync(config.Mx, message, "--to", to, "--from", "<>");
        Assert.True(code == 0, to + ":\n" + output);
    }

    private static Task<JsonObject> EventFor(WebhookListener webhook, string uuid) =>
        webhook.WaitForAsync(e => (string?)e["uuid"] == uuid, Patience, "the event for " + uuid);

    private static string Text(JsonObject json, string name) => (string?)json[name] ?? "";

    private static string Dsn(string uuid, string recipient, string status, string diagnostic) => string.Join("\r\n",
        "From: Mail Delivery System <MAILER-DAEMON@mx.ok.test>",
        $"To: bounce-{uuid}@{Domain}",
        "Subject: Undelivered Mail Returned to Sender",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn\"",
        "",
        "--dsn",
        "Content-Type: text/plain",
        "",
        "I'm sorry to have to inform you that your message could not be delivered.",
        "--dsn",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.ok.test",
        "",
        $"Final-Recipient: rfc822; {recipient}",
        $"Action: {(status[0] == '4' ? "delayed" : "failed")}",
        $"Status: {status}",
        $"Diagnostic-Code: smtp; {diagnostic}",
        "--dsn",
        "Content-Type: text/rfc822-headers",
        "",
        $"Message-ID: <{uuid}@{Domain}>",
        $"To: {recipient}",
        "Subject: News",
        "--dsn--",
        "");

    private static string Arf(string uuid, string complainer) => string.Join("\r\n",
        "From: feedback@fbl.ok.test",
        $"To: fbl@{Domain}",
        "Subject: FW: News",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=feedback-report; boundary=\"arf\"",
        "",
        "--arf",
        "Content-Type: text/plain",
        "",
        "This is an email abuse report.",
        "--arf",
        "Content-Type: message/feedback-report",
        "",
        "Feedback-Type: abuse",
        "User-Agent: Test-FBL/1.0",
        "Version: 1",
        $"Original-Mail-From: <bounce-{uuid}@{Domain}>",
        $"Original-Rcpt-To: <{complainer}>",
        "--arf",
        "Content-Type: message/rfc822",
        "",
        $"From: news@{TestWorld.SenderDomain}",
        $"To: {complainer}",
        "Subject: News",
        "",
        "Hello",
        "--arf--",
        "");

    private static string AutoReply() => string.Join("\r\n",
        "From: Reader <reader@ok.test>",
        "Subject: Out of office: News",
        "Auto-Submitted: auto-replied",
        "",
        "I am out of the office until Monday.",
        "");
}
