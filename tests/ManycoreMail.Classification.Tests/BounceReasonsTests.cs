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

    [Theory]
    // Localised MTAs: the same meanings in other languages.
    [InlineData("5.0.0", "Benutzer unbekannt", "userunknown")]
    [InlineData("5.0.0", "Das Postfach ist voll", "mailboxfull")]
    [InlineData("5.0.0", "Utilisateur inconnu", "userunknown")]
    [InlineData("4.0.0", "Boîte aux lettres pleine", "mailboxfull")]
    [InlineData("5.0.0", "Usuario desconocido", "userunknown")]
    [InlineData("5.0.0", "El buzón está lleno", "mailboxfull")]
    [InlineData("5.0.0", "Użytkownik nie istnieje", "userunknown")]
    [InlineData("5.0.0", "Пользователь не найден", "userunknown")]
    [InlineData("5.0.0", "Почтовый ящик переполнен", "mailboxfull")]
    [InlineData("5.0.0", "宛先のユーザーは存在しません", "userunknown")]
    [InlineData("5.0.0", "收件人邮箱已满", "mailboxfull")]
    [InlineData("5.0.0", "Domena nie istnieje", "hostunknown")]
    [InlineData("5.0.0", "Diese Nachricht wurde als Spam erkannt", "spamdetected")]
    public void Non_english_replies(string status, string diagnostic, string expected) =>
        Assert.Equal(expected, BounceReasons.Classify(status, diagnostic, "RCPT"));

    [Theory]
    // RFC 3463 and its successors decide where the code has one meaning, whatever the words.
    [InlineData("5.1.2", "Rejected", "hostunknown")]
    [InlineData("5.1.6", "Rejected", "hasmoved")]
    [InlineData("5.3.4", "Rejected", "mesgtoobig")]
    [InlineData("5.7.25", "Rejected", "requireptr")]
    [InlineData("5.7.26", "Rejected", "authfailure")]
    [InlineData("5.7.8", "Rejected", "securityerror")]
    // The reasons sisimai defines, from the words where the code is generic.
    [InlineData("4.7.0", "421 4.7.0 Try again later, closing connection. Our system has detected an unusual rate of unsolicited mail", "ratelimited")]
    [InlineData("5.7.1", "550-5.7.1 Our system has detected that this message is likely suspicious due to the very low reputation of the sending IP address", "badreputation")]
    [InlineData("5.7.1", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", "blocked")]
    [InlineData("5.7.1", "550 5.7.1 Relaying denied", "norelaying")]
    [InlineData("5.7.0", "554 5.7.0 Message contains a virus", "virusdetected")]
    [InlineData("5.6.0", "554 5.6.0 Message contains invalid MIME", "contenterror")]
    [InlineData("5.7.1", "550 5.7.1 Message rejected as spam by Content Filtering", "spamdetected")]
    [InlineData("5.2.1", "550 5.2.1 The email account that you tried to reach is disabled", "suspend")]
    [InlineData("5.7.1", "550 5.7.1 Client host rejected: cannot find your reverse hostname", "requireptr")]
    [InlineData("5.0.0", "554 Message not accepted for policy reasons", "policyviolation")]
    [InlineData("4.7.9", "554 5.7.9 Message not accepted for policy reasons", "policyviolation")]
    [InlineData("5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "userunknown")]
    [InlineData("5.5.2", "500 5.5.2 Syntax error, command unrecognized", "syntaxerror")]
    [InlineData("4.3.0", "451 4.3.0 Temporary failure, try again later", "systemerror")]
    [InlineData("4.0.0", "452 4.0.0 Message is on hold", "onhold")]
    public void Codes_and_wordings_for_every_reason(string status, string diagnostic, string expected) =>
        Assert.Equal(expected, BounceReasons.Classify(status, diagnostic, "RCPT"));

    [Fact]
    public void A_multi_line_reply_is_read_as_one_sentence()
    {
        const string reply = "550-5.7.1 [192.0.2.22] Messages with multiple\r\n550-5.7.1 addresses in From: header are not accepted.";
        Assert.Equal("notcompliantrfc", BounceReasons.Classify("5.7.1", reply, "DATA"));
    }

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
