using System.Text;

namespace ManycoreMail.Classification.Tests;

/// <summary>The general rules the reason classifier follows (status codes first, then words, then the SMTP command).</summary>
public sealed class BounceReasonsTests
{
    [Theory]
    [InlineData("5.3.2", "Recipient address rejected: System not accepting network messages", "notaccept")]
    [InlineData("5.2.3", "RecipSizeLimit; message too large for this recipient", "exceedlimit")]
    [InlineData("5.2.0", "Message Filtered", "filtered")]
    [InlineData("5.1.1", "User unknown", "userunknown")]
    [InlineData("5.1.1", "mailbox is full", "mailboxfull")]
    [InlineData("5.7.0", "Recipient address rejected: Spam detected", "spamdetected")]
    [InlineData("5.0.0", "Recipient address rejected.", "userunknown")]
    [InlineData("5.0.0", "The domain example.org doesn't receive email: returned Null MX", "notaccept")]
    [InlineData("4.0.0", "mailbox is full: retry timeout exceeded", "mailboxfull")]
    [InlineData("4.4.7", "Delivery time expired", "expired")]
    public void Status_code_and_words(string status, string diagnostic, string expected) =>
        Assert.Equal(expected, BounceReasons.Classify(status, diagnostic));

    [Theory]
    [InlineData("550 User unknown (in reply to RCPT TO command)", "userunknown")]
    [InlineData("550 User unknown (in reply to end of DATA command)", "filtered")]
    [InlineData("SMTP error from remote mail server after end of data: 550 User unknown", "filtered")]
    [InlineData("... while talking to mx.example.net.:\n>>> DATA\n<<< 550 Unknown user x@example.net", "filtered")]
    [InlineData("550 Unknown user x@example.net", "filtered")]
    [InlineData("550 No such mailbox here", "userunknown")]
    public void User_unknown_after_data_is_a_filter(string diagnostic, string expected) =>
        Assert.Equal(expected, BounceReasons.Classify(null, diagnostic));

    [Fact]
    public void Diagnostic_code_beats_the_reporting_mtas_summary_status()
    {
        var verdict = new MailClassifier().Classify(Encoding.UTF8.GetBytes("""
            From: MAILER-DAEMON@mx.example.net
            Subject: Returned mail
            Content-Type: multipart/report; report-type=delivery-status; boundary="b"

            --b
            Content-Type: message/delivery-status

            Reporting-MTA: dns; mx.example.net

            Action: failed
            Final-Recipient: rfc822; x@example.org
            Original-Recipient: rfc822; x@example.org
            Diagnostic-Code: smtp; 550 5.7.1 IP address blacklisted by recipient
            Status: 5.1.1
            --b--
            """.Replace("\n", "\r\n", StringComparison.Ordinal)));
        var recipient = Assert.Single(verdict.Recipients);
        Assert.Equal(("x@example.org", "5.7.1", "blocked"), (recipient.Address, recipient.Status, recipient.Class));
    }

    [Fact]
    public void Delivery_status_fields_written_into_the_text_part_are_read()
    {
        var verdict = new MailClassifier().Classify(Encoding.UTF8.GetBytes("""
            From: MAILER-DAEMON@mail.example.net
            Subject: Delivery failure
            Content-Type: text/plain

            An error occurred while trying to deliver the mail to the following recipients:
            x@example.org

            Technical report:

            Reporting-MTA: dns; out.example.net

            Action: failed
            Final-Recipient: rfc822; x@example.org
            Diagnostic-Code: smtp; 552 5.2.2 Mailbox full
            Status: 5.2.2
            """.Replace("\n", "\r\n", StringComparison.Ordinal)));
        Assert.Equal(MailKind.Bounce, verdict.Kind);
        var recipient = Assert.Single(verdict.Recipients);
        Assert.Equal(("x@example.org", "5.2.2", "mailboxfull", "hard"), (recipient.Address, recipient.Status, recipient.Class, recipient.Type));
    }
}
