using System.Net;
using ManycoreMail.Delivery;
using ManycoreMail.Smtp;
using ManycoreMail.Smtp.Client;

namespace ManycoreMail.Delivery.Tests;

/// <summary>A synchronous bounce carries the class the MX server's bounces carry (sisimai's names), read from the
/// refused command and its reply: what decides whether the address is suppressed.</summary>
public sealed class TransactionRepliesTests
{
    private static readonly SiteHost Host = new("mx.x.test", new IPEndPoint(IPAddress.Parse("127.0.0.2"), 25));

    private static string? ClassOf(SmtpTransactionResult result) =>
        Assert.IsType<RecipientOutcome.Bounced>(Assert.Single(TransactionReplies.Interpret(result, Host))).ReportClass;

    [Theory]
    [InlineData(550, "5.1.1", "<gone@x.test>: Recipient address rejected: User unknown", "userunknown")]
    [InlineData(550, null, "No such user here", "userunknown")]
    [InlineData(550, "5.1.0", "Address rejected", "userunknown")]
    [InlineData(550, "5.1.2", "Bad destination system address", "hostunknown")]
    [InlineData(552, "5.2.2", "Mailbox full", "mailboxfull")]
    [InlineData(554, "5.7.1", "Message rejected as spam", "spamdetected")]
    public void A_refused_recipient_bounces_with_its_class(int code, string? status, string text, string expected)
    {
        var result = new SmtpTransactionResult(SmtpReply.Ok(), [("gone@x.test", new SmtpReply(code, status, text))], null);

        Assert.Equal(expected, ClassOf(result));
    }

    [Fact]
    public void User_unknown_said_after_data_is_a_filter_not_a_missing_mailbox()
    {
        var result = new SmtpTransactionResult(SmtpReply.Ok(), [("a@x.test", SmtpReply.Ok())], new SmtpReply(550, null, "User unknown"));

        Assert.Equal("filtered", ClassOf(result));
    }

    [Fact]
    public void A_5_1_1_after_data_still_names_the_address()
    {
        var result = new SmtpTransactionResult(SmtpReply.Ok(), [("a@x.test", SmtpReply.Ok())], new SmtpReply(550, "5.1.1", "User unknown"));

        Assert.Equal("userunknown", ClassOf(result));
    }
}
