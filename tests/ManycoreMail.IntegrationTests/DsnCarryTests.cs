using System.Text;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>
/// The DSN parameters and SMTPUTF8 a submitting client gives travel with the message to the next hop. Python's smtplib
/// submits (swaks 2020 cannot give MAIL or RCPT parameters); a recording SMTP peer is the recipient's MX and keeps the
/// MAIL and RCPT lines the sender wrote.
/// </summary>
public sealed class DsnCarryTests(TestWorld world) : IClassFixture<TestWorld>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>Submits over STARTTLS with AUTH, as swaks does in the other tests, with the given parameters.</summary>
    private static async Task SubmitAsync(MailerConfig config, string message, string[] recipients, string[] mailOptions, string[] rcptOptions)
    {
        const string script = """
            import smtplib, ssl, sys, json
            port, message, recipients, mail_options, rcpt_options = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]), json.loads(sys.argv[5])
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30) as smtp:
                smtp.starttls(context=context)
                smtp.login("apa", "banan")
                refused = smtp.sendmail("client@submitter.test", recipients, message.encode("utf-8"), mail_options, rcpt_options)
                print("refused:", refused)
            """;
        var (code, output) = await PeerProcess.RunAsync("/usr/bin/python3",
            ["-c", script, config.ReceiverPort.ToString(System.Globalization.CultureInfo.InvariantCulture), message,
                Json(recipients), Json(mailOptions), Json(rcptOptions)], TimeSpan.FromSeconds(60));
        Assert.True(code == 0, output);
        Assert.Contains("refused: {}", output);
    }

    /// <summary>A recording next hop for ok.test offering <paramref name="keywords"/>, and a mailer sending to it.</summary>
    private async Task<Run> StartAsync(params string[] keywords)
    {
        var peer = RecordingSmtpPeer.Start(TestWorld.MxAddresses["ok.test"], world.SmtpPort, keywords);
        var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        return new Run(peer, webhook, config, await RunningMailer.StartAsync(config));
    }

    private sealed record Run(RecordingSmtpPeer Peer, WebhookListener Webhook, MailerConfig Config, RunningMailer Mailer) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Mailer.DisposeAsync();
            Webhook.Dispose();
            await Peer.DisposeAsync();
        }
    }

    private static string Json(string[] values) => System.Text.Json.JsonSerializer.Serialize(values);

    private static Task<string[]> LinesAsync(RecordingSmtpPeer peer, string verb, int count) =>
        Eventually.GetAsync(() => Task.FromResult(peer.Commands.Where(c => c.StartsWith(verb, StringComparison.OrdinalIgnoreCase)).ToArray()
            is { } lines && lines.Length >= count && peer.MessageCount > 0 ? lines : null), Patience, $"{count} {verb} line(s) and a message");

    [Fact]
    public async Task Ret_envid_notify_and_orcpt_given_at_submission_reach_a_next_hop_that_offers_dsn()
    {
        await using var run = await StartAsync("PIPELINING", "8BITMIME", "DSN", "ENHANCEDSTATUSCODES");
        var (peer, config, uuid) = (run.Peer, run.Config, Messages.NewUuid());
        // reader@ok.test is an envelope recipient with DSN parameters; copy@ok.test is only in the header, so it has none.
        await SubmitAsync(config, Messages.Simple(uuid, "reader@ok.test", "Cc: copy@ok.test\r\n"), ["reader@ok.test"],
            ["RET=HDRS", "ENVID=QQ+2B314159"], ["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;Reader+2Bx@ok.test"]);

        var rcpts = await LinesAsync(peer, "RCPT", 2);
        Assert.Contains("RCPT TO:<reader@ok.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Reader+2Bx@ok.test", rcpts);
        Assert.Contains("RCPT TO:<copy@ok.test>", rcpts);
        var mail = await LinesAsync(peer, "MAIL", 1);
        Assert.All(mail, m => Assert.EndsWith(" RET=HDRS ENVID=QQ+2B314159", m));
        Assert.All(mail, m => Assert.StartsWith($"MAIL FROM:<bounce-{uuid}@{TestWorld.ReturnPathDomain}>", m));
    }

    [Fact]
    public async Task Without_dsn_at_the_next_hop_the_parameters_are_left_off_and_the_message_is_delivered()
    {
        await using var run = await StartAsync("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES");
        var (peer, webhook, config, uuid) = (run.Peer, run.Webhook, run.Config, Messages.NewUuid());
        await SubmitAsync(config, Messages.Simple(uuid, "reader@ok.test"), ["reader@ok.test"], ["RET=FULL", "ENVID=x"], ["NOTIFY=NEVER"]);

        Assert.Equal(["RCPT TO:<reader@ok.test>"], await LinesAsync(peer, "RCPT", 1));
        var mail = Assert.Single(await LinesAsync(peer, "MAIL", 1));
        Assert.DoesNotContain("RET=", mail);
        Assert.DoesNotContain("ENVID=", mail);
        var delivered = await webhook.WaitForAsync(e => (string?)e["uuid"] == uuid, Patience, "delivered event");
        Assert.Equal("delivered", (string?)delivered["event"]);
    }

    [Fact]
    public async Task Smtputf8_declared_at_submission_is_declared_to_a_next_hop_that_offers_it()
    {
        await using var run = await StartAsync("PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES");
        var (peer, config, uuid) = (run.Peer, run.Config, Messages.NewUuid());
        await SubmitAsync(config, Utf8Message(uuid), ["reader@ok.test"], ["SMTPUTF8"], []);

        var mail = Assert.Single(await LinesAsync(peer, "MAIL", 1));
        Assert.Contains(" SMTPUTF8", mail);
        Assert.Contains(" BODY=8BITMIME", mail);
    }

    [Fact]
    public async Task A_message_that_needs_smtputf8_bounces_5_6_7_at_a_next_hop_without_it()
    {
        await using var run = await StartAsync("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES");
        var (peer, webhook, config, uuid) = (run.Peer, run.Webhook, run.Config, Messages.NewUuid());
        await SubmitAsync(config, Utf8Message(uuid), ["reader@ok.test"], ["SMTPUTF8"], []);

        var bounce = await webhook.WaitForAsync(e => (string?)e["uuid"] == uuid, Patience, "bounce event");
        Assert.Equal("bounce", (string?)bounce["event"]);
        Assert.Equal("hard", (string?)bounce["type"]);
        Assert.Contains("5.6.7", (string?)bounce["reason"]);
        Assert.Equal("reader@ok.test", (string?)bounce["email"]);
        // Refused before MAIL: the peer saw the connection, never a transaction.
        Assert.DoesNotContain(peer.Commands, c => c.StartsWith("MAIL", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(0, peer.MessageCount);
    }

    private static string Utf8Message(string uuid) =>
        Messages.Simple(uuid, "reader@ok.test").Replace("Subject: Integration test", "Subject: Grüße aus Köln", StringComparison.Ordinal);
}
