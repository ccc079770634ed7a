using ManycoreMail.Classification;
using ManycoreMail.Smtp;
using ManycoreMail.Smtp.Client;

namespace ManycoreMail.Delivery;

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
            var (reply, command) = !result.MailFromReply.IsPositive ? (result.MailFromReply, "MAIL")
                : !rcptReply.IsPositive ? (rcptReply, "RCPT")
                : (result.DataReply ?? rcptReply, "DATA");
            outcomes[i] = reply switch
            {
                { IsPositive: true } => new RecipientOutcome.Delivered(recipient, ip),
                { IsPermanentFailure: true } => Bounce(recipient, reply, host, command),
                _ => new RecipientOutcome.Deferred(recipient, Describe(host, reply)!, SiteAnswered: true, ReplyClassifier.Classify(reply).BounceClass),
            } with { MxHost = host.Name, Reply = reply.ToString() };
        }
        return outcomes;
    }

    /// <param name="command">The command refused (MAIL, RCPT, DATA), null when the connection broke off: a "user unknown"
    /// after DATA is a filter's answer, not a missing mailbox (<see cref="BounceReasons"/>).</param>
    public static RecipientOutcome Bounce(string recipient, SmtpReply reply, SiteHost host, string? command) =>
        new RecipientOutcome.Bounced(recipient, "hard", Describe(host, reply)!, host.EndPoint.Address.ToString(), ReplyClassifier.Classify(reply).BounceClass,
            BounceReasons.Classify(reply.EnhancedStatus, reply.Text, command));

    /// <summary>The reason text as Postfix logged it, which event consumers already parse.</summary>
    public static string? Describe(SiteHost host, SmtpReply? reply) =>
        reply is null ? null : $"host {host.Name}[{host.EndPoint.Address}] said: {reply}";
}
