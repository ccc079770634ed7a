using System.Text;

namespace ManycoreMail.Classification.Tests;

public sealed class MailClassifierTests
{
    private static readonly MailClassifier Classifier = new();

    private static MailClassification Classify(string message, params string[] envelope) =>
        Classifier.Classify(Encoding.UTF8.GetBytes(message.Replace("\n", "\r\n", StringComparison.Ordinal)), envelope);

    [Fact]
    public void Rfc3464_report_gives_one_bounce_per_failed_recipient_with_uuid_from_the_returned_message_id()
    {
        var verdict = Classify("""
            From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
            To: bounce-abc123@rp.example.com
            Subject: Undelivered Mail Returned to Sender
            Content-Type: multipart/report; report-type=delivery-status; boundary="b"

            --b
            Content-Type: text/plain

            I'm sorry to have to inform you that your message could not be delivered.
            --b
            Content-Type: message/delivery-status

            Reporting-MTA: dns; mx.example.net

            Final-Recipient: rfc822; gone@example.net
            Action: failed
            Status: 5.1.1
            Remote-MTA: dns; mail.example.net
            Diagnostic-Code: smtp; 550 5.1.1 <gone@example.net>: User unknown

            Final-Recipient: rfc822; full@example.net
            Action: delayed
            Status: 4.2.2
            Diagnostic-Code: smtp; 452 4.2.2 Mailbox full

            Final-Recipient: rfc822; fine@example.net
            Action: delivered
            Status: 2.0.0
            --b
            Content-Type: text/rfc822-headers

            Message-ID: <abc123@rp.example.com>
            To: gone@example.net
            --b--
            """);
        Assert.Equal(MailKind.Bounce, verdict.Kind);
        Assert.Equal("abc123", verdict.Uuid);
        Assert.Collection(verdict.Recipients,
            r => Assert.Equal(("gone@example.net", "hard", "userunknown", "5.1.1"), (r.Address, r.Type, r.Class, r.Status)),
            r => Assert.Equal(("full@example.net", "soft", "mailboxfull", "4.2.2"), (r.Address, r.Type, r.Class, r.Status)));
    }

    [Fact]
    public void Success_only_dsn_is_not_a_bounce()
    {
        var verdict = Classify("""
            From: MAILER-DAEMON@mx.example.net
            Subject: Successful Mail Delivery Report
            Content-Type: multipart/report; report-type=delivery-status; boundary="b"

            --b
            Content-Type: message/delivery-status

            Final-Recipient: rfc822; fine@example.net
            Action: delivered
            Status: 2.0.0
            --b--
            """);
        Assert.Equal(MailKind.Other, verdict.Kind);
    }

    [Fact]
    public void Arf_report_from_any_provider_gives_feedback_with_the_complaining_recipient_and_uuid()
    {
        var verdict = Classify("""
            From: feedback@fbl.example.org
            Subject: complaint
            Content-Type: multipart/report; report-type=feedback-report; boundary="b"

            --b
            Content-Type: text/plain

            This is an abuse report.
            --b
            Content-Type: message/feedback-report

            Feedback-Type: abuse
            Original-Mail-From: <bounce-u1x2@rp.example.com>
            Original-Rcpt-To: <angry@example.org>
            --b--
            """);
        Assert.Equal(MailKind.Feedback, verdict.Kind);
        Assert.Equal("u1x2", verdict.Uuid);
        Assert.Equal("angry@example.org", verdict.Email);
    }

    [Theory]
    [InlineData("Auto-Submitted: auto-replied")]
    [InlineData("X-Autoreply: yes")]
    [InlineData("X-Autorespond: yes")]
    [InlineData("Precedence: auto_reply")]
    public void Rfc3834_markers_make_an_autoreply_matched_by_the_to_address(string marker)
    {
        var verdict = Classify($"""
            From: someone@example.org
            To: bounce-q9w8@rp.example.com
            Subject: Re: news
            {marker}

            I am away.
            """);
        Assert.Equal(MailKind.AutoReply, verdict.Kind);
        Assert.Equal("q9w8", verdict.Uuid);
    }

    [Fact]
    public void Unsub_envelope_recipient_is_an_unsubscribe_with_a_uuid_longer_than_the_original_cut()
    {
        var verdict = Classify("From: a@example.org\nSubject: unsubscribe\n\n", "unsub-abc123def456@rp.example.com");
        Assert.Equal(MailKind.Unsubscribe, verdict.Kind);
        Assert.Equal("abc123def456", verdict.Uuid);
    }

    [Fact]
    public void Qmail_text_bounce_is_classified_without_a_dsn()
    {
        var verdict = Classify("""
            From: MAILER-DAEMON@mx.example.net
            To: bounce-zz1@rp.example.com
            Subject: failure notice

            Hi. This is the qmail-send program at mx.example.net.
            I'm afraid I wasn't able to deliver your message to the following addresses.
            This is a permanent error; I've given up. Sorry it didn't work out.

            <nobody@example.net>:
            Sorry, no mailbox here by that name. (#5.1.1)

            --- Below this line is a copy of the message.
            """, "bounce-zz1@rp.example.com");
        Assert.Equal(MailKind.Bounce, verdict.Kind);
        Assert.Equal("zz1", verdict.Uuid);
        var failed = Assert.Single(verdict.Recipients);
        Assert.Equal(("nobody@example.net", "hard", "userunknown", "5.1.1"), (failed.Address, failed.Type, failed.Class, failed.Status));
    }

    [Fact]
    public void Ordinary_mail_is_other()
    {
        Assert.Equal(MailKind.Other, Classify("From: friend@example.org\nTo: bounce-a1@rp.example.com\nSubject: lunch?\n\nSee you at noon.\n").Kind);
    }

    [Fact]
    public void Json_line_has_the_documented_fields()
    {
        var verdict = Classify("From: a@example.org\nSubject: x\n\n", "unsub-u7@rp.example.com");
        Assert.Equal("""{"file":"f.eml","kind":"unsubscribe","type":"-","class":"-","status":null,"recipient":null,"uuid":"u7","recipients":[]}""",
            ClassificationJson.Format("f.eml", verdict));
    }

    [Theory]
    [InlineData("b")]
    [InlineData("b ")]
    public void Empty_parts_and_a_boundary_with_trailing_space_are_read_not_thrown_on(string boundary)
    {
        // Found by ClassifierFuzzTests: two delimiter lines in a row, and a delimiter longer than its trimmed line.
        var verdict = Classify($"""
            From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
            Subject: Undelivered Mail Returned to Sender
            Content-Type: multipart/mixed; boundary="{boundary}"

            --b
            --b
            Content-Type: text/plain

            I'm sorry to have to inform you that your message could not be delivered to <gone@example.net>.
            550 5.1.1 User unknown
            --b--
            """);
        Assert.Equal(MailKind.Bounce, verdict.Kind);
        Assert.Equal("gone@example.net", Assert.Single(verdict.Recipients).Address);
    }
}
