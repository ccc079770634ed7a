using ManycoreMail.Smtp;
using ManycoreMail.Smtp.Client;

namespace ManycoreMail.Roles.Sender;

/// <summary>Turns the replies of one transaction into per-recipient outcomes.</summary>
internal static class TransactionReplies
{
    public static IReadOnlyList<RecipientOutcome> Interpret(SmtpTransactionResult result, SiteHost host)
    {
        var ip = host.EndPoint.Address.ToString();
        var outcomes = new RecipientOutcome[result.RecipientReplies.Count];
        for (var i = 0; i < outcomes.Length; i++)
        {
            var (recipient, rcptReply) = result.RecipientReplies[i];
            // A refused MAIL FROM applies to every recipient; otherwise the RCPT reply, then the DATA reply.
            var reply = !result.MailFromReply.IsPositive ? result.MailFromReply
                : !rcptReply.IsPositive ? rcptReply
                : result.DataReply ?? rcptReply;
            outcomes[i] = reply switch
            {
                { IsPositive: true } => new RecipientOutcome.Delivered(recipient, ip),
                { IsPermanentFailure: true } => Bounce(recipient, reply, host),
                _ => new RecipientOutcome.Deferred(recipient, Describe(host, reply)!, SiteAnswered: true, ReplyClassifier.Classify(reply).BounceClass),
            };
        }
        return outcomes;
    }

    public static RecipientOutcome Bounce(string recipient, SmtpReply reply, SiteHost host) =>
        new RecipientOutcome.Bounced(recipient, "hard", Describe(host, reply)!, host.EndPoint.Address.ToString(), ReplyClassifier.Classify(reply).BounceClass);

    /// <summary>The reason text as Postfix logged it, which event consumers already parse.</summary>
    public static string? Describe(SiteHost host, SmtpReply? reply) =>
        reply is null ? null : $"host {host.Name}[{host.EndPoint.Address}] said: {reply}";
}
