using System.Text;
using ManycoreMail.Classification;
using ManycoreMail.Smtp;

namespace ManycoreMail.IntegrationTests;

/// <summary>Issue 16 item 3: a refusal the sender meets at RCPT (a real SMTP server on loopback answering 5xx) and the
/// same reply arriving later inside a Postfix-style DSN get the same <c>class</c>, because both are read by
/// <see cref="BounceReasons"/>.</summary>
public sealed class SameReplySameClassTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    // Recipient local part, the remote's reply, and the class that reply means.
    private static readonly (string Local, SmtpReply Reply, string Class)[] Replies =
    [
        ("gone", new SmtpReply(550, "5.1.1", "<gone@same.test>: Recipient address rejected: User unknown in virtual mailbox table"), "userunknown"),
        ("full", new SmtpReply(552, "5.2.2", "Mailbox full"), "mailboxfull"),
        ("spam", new SmtpReply(550, "5.7.1", "Message rejected as spam by Content Filtering"), "spamdetected"),
        ("listed", new SmtpReply(554, "5.7.1", "Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"), "blocked"),
        ("relay", new SmtpReply(554, "5.7.1", "<relay@same.test>: Relay access denied"), "norelaying"),
        ("policy", new SmtpReply(554, "5.7.9", "Message not accepted for policy reasons"), "policyviolation"),
        ("moved", new SmtpReply(550, "5.1.6", "Recipient has moved, no forwarding address"), "hasmoved"),
        ("german", new SmtpReply(550, "5.0.0", "Benutzer unbekannt"), "userunknown"),
    ];

    [Fact]
    public async Task A_5xx_at_rcpt_and_a_dsn_with_the_same_reply_get_the_same_class()
    {
        await using var harness = await DeliveryHarness.StartAsync(["mx-host=same.test,mx.same.test,10", "host-record=mx.same.test,127.0.0.61"]);
        harness.StartServer("127.0.0.61", new ScriptedHandler((recipient, _) =>
            Array.FindIndex(Replies, r => recipient == $"{r.Local}@same.test") is var i and >= 0 ? Replies[i].Reply : SmtpReply.Ok()));
        await harness.StartSenderAsync();

        await harness.EnqueueAsync("s1", Replies.Select(r => $"{r.Local}@same.test").ToArray());
        var events = await harness.WaitForEventsAsync(Replies.Length, Deadline);

        var classifier = new MailClassifier();
        foreach (var (local, reply, expected) in Replies)
        {
            var address = $"{local}@same.test";
            var bounce = Assert.Single(events, e => e.GetProperty("email").GetString() == address);
            Assert.Equal("bounce", bounce.GetProperty("event").GetString());
            var synchronous = bounce.GetProperty("class").GetString();
            var fromDsn = Assert.Single(classifier.Classify(Encoding.UTF8.GetBytes(PostfixDsn(address, reply))).Recipients).Class;
            Assert.Equal((address, expected, expected), (address, synchronous, fromDsn));
        }
    }

    /// <summary>What Postfix returns when a remote refuses at RCPT: the reply in the human part with the command, and as
    /// the Diagnostic-Code.</summary>
    private static string PostfixDsn(string recipient, SmtpReply reply) => string.Join("\r\n",
        "From: Mail Delivery System <MAILER-DAEMON@relay.example.net>",
        "To: bounce-s1@returns.sender.test",
        "Subject: Undelivered Mail Returned to Sender",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn\"",
        "",
        "--dsn",
        "Content-Type: text/plain",
        "",
        "This is the mail system at host relay.example.net.",
        "",
        $"<{recipient}>: host mx.same.test[127.0.0.61] said: {reply} (in reply to RCPT TO command)",
        "--dsn",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; relay.example.net",
        "",
        $"Final-Recipient: rfc822; {recipient}",
        "Action: failed",
        $"Status: {reply.EnhancedStatus}",
        $"Diagnostic-Code: smtp; {reply}",
        "--dsn--",
        "");
}
