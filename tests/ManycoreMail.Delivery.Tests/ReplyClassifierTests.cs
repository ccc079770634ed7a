using ManycoreMail.Delivery;
using ManycoreMail.Smtp;

namespace ManycoreMail.Delivery.Tests;

public sealed class ReplyClassifierTests
{
    [Theory]
    [InlineData(550, "5.1.1", "The email account that you tried to reach does not exist", true, BounceClass.InvalidRecipient)]
    [InlineData(550, "5.1.2", "Host unknown", true, BounceClass.BadDomain)]
    [InlineData(452, "4.2.2", "The email account that you tried to reach is over quota", false, BounceClass.MailboxFull)]
    [InlineData(552, "5.2.2", "Mailbox full", true, BounceClass.MailboxFull)]
    [InlineData(552, "5.3.4", "Message size exceeds fixed limit", true, BounceClass.MessageTooLarge)]
    [InlineData(550, "5.7.1", "Our system has detected that this message is likely unsolicited mail (spam)", true, BounceClass.SpamBlock)]
    [InlineData(550, "5.7.1", "Service unavailable, Client host [1.2.3.4] blocked using Spamhaus", true, BounceClass.Reputation)]
    [InlineData(421, "4.7.0", "[1.2.3.4] Our system has detected an unusual rate of unsolicited mail; poor reputation", false, BounceClass.Reputation)]
    [InlineData(550, "5.7.1", "Relaying denied", true, BounceClass.Policy)]
    [InlineData(550, "5.7.26", "Unauthenticated email from example.com is not accepted due to domain's DMARC policy", true, BounceClass.Authentication)]
    [InlineData(451, "4.7.500", "Server busy, please try again later", false, BounceClass.Throttled)]
    [InlineData(550, null, "No such user here", true, BounceClass.InvalidRecipient)]
    [InlineData(450, null, "Requested action not taken", false, BounceClass.Throttled)]
    [InlineData(554, null, "Transaction failed", true, BounceClass.Other)]
    public void Classifies_by_enhanced_code_then_text(int code, string? enhanced, string text, bool permanent, string expected)
    {
        var result = ReplyClassifier.Classify(new SmtpReply(code, enhanced, text));

        Assert.Equal(permanent, result.Permanent);
        Assert.Equal(expected, result.BounceClass);
    }
}
