using ManycoreMail.Smtp;

namespace ManycoreMail.Delivery;

/// <summary>Why a recipient failed, finer than hard/soft: what an ESP's suppression and reputation logic needs.</summary>
internal static class BounceClass
{
    public const string InvalidRecipient = "invalid-recipient";
    public const string BadDomain = "bad-domain";
    public const string MailboxFull = "mailbox-full";
    public const string MessageTooLarge = "message-too-large";
    public const string SpamBlock = "spam-block";
    public const string Reputation = "reputation";
    public const string Authentication = "authentication";
    public const string Policy = "policy";
    public const string Throttled = "throttled";
    public const string Connection = "connection";
    public const string Expired = "expired";
    /// <summary>An operator bounced the queue.</summary>
    public const string Operator = "operator";
    public const string Other = "other";
}

/// <summary>The event type the original emitted (hard, soft, unroutable) plus our finer class.</summary>
internal readonly record struct ReplyClassification(bool Permanent, string BounceClass);

/// <summary>
/// Classifies a refusal by its RFC 3463 enhanced status code first (the code a server chose is more reliable
/// than its prose), then by well-known phrases of the large providers when the code is generic or missing.
/// Permanence follows the basic code: 5xx is final, 4xx is retried, whatever the text claims.
/// </summary>
internal static class ReplyClassifier
{
    private static readonly string[] ReputationWords = ["reputation", "blocklist", "blacklist", "block list", "spamhaus", "rbl", "listed", "dnsbl", "poor"];
    private static readonly string[] SpamWords = ["spam", "junk", "content", "unsolicited", "bulk"];
    private static readonly string[] InvalidWords = ["user unknown", "unknown user", "no such user", "does not exist", "doesn't exist", "invalid recipient", "recipient rejected", "mailbox unavailable", "address rejected", "not found"];
    private static readonly string[] FullWords = ["mailbox full", "over quota", "quota exceeded", "insufficient storage", "mailbox is full"];
    private static readonly string[] ThrottleWords = ["too many", "rate limit", "try again later", "throttl", "deferred"];
    private static readonly string[] AuthWords = ["dmarc", "spf", "dkim", "authenticat"];

    public static ReplyClassification Classify(SmtpReply reply)
    {
        var permanent = reply.IsPermanentFailure;
        var byCode = ByEnhancedStatus(reply.EnhancedStatus);
        // x.7.1 (and a few others) is "delivery not authorized": the text tells spam from reputation from policy.
        if (byCode is null or BounceClass.Policy or BounceClass.Other)
        {
            var byText = ByText(reply.Text);
            if (byText is not null)
            {
                return new(permanent, byText);
            }
        }
        return new(permanent, byCode ?? (reply.IsTransientFailure ? BounceClass.Throttled : BounceClass.Other));
    }

    private static string? ByEnhancedStatus(string? status)
    {
        if (status is null || status.Length < 5)
        {
            return null;
        }
        // Compare subject.detail only: the class digit is the basic code's business.
        var detail = status.AsSpan(2);
        return detail switch
        {
            "1.1" or "1.0" or "1.3" or "1.6" or "2.1" or "1.10" => BounceClass.InvalidRecipient,
            "1.2" or "4.4" => BounceClass.BadDomain,
            "2.2" => BounceClass.MailboxFull,
            "2.3" or "3.4" => BounceClass.MessageTooLarge,
            "7.23" or "7.24" or "7.25" or "7.26" or "7.27" or "7.28" or "7.30" or "7.5" or "7.7" => BounceClass.Authentication,
            "4.1" or "4.2" or "4.7" => BounceClass.Connection,
            "4.5" or "3.2" or "4.3" => BounceClass.Throttled,
            "7.1" or "7.0" or "7.2" or "7.9" => BounceClass.Policy,
            _ => BounceClass.Other,
        };
    }

    private static string? ByText(string text)
    {
        if (ContainsAny(text, ReputationWords)) return BounceClass.Reputation;
        if (ContainsAny(text, SpamWords)) return BounceClass.SpamBlock;
        if (ContainsAny(text, FullWords)) return BounceClass.MailboxFull;
        if (ContainsAny(text, InvalidWords)) return BounceClass.InvalidRecipient;
        if (ContainsAny(text, AuthWords)) return BounceClass.Authentication;
        if (ContainsAny(text, ThrottleWords)) return BounceClass.Throttled;
        if (text.Contains("policy", StringComparison.OrdinalIgnoreCase)) return BounceClass.Policy;
        return null;
    }

    private static bool ContainsAny(string text, string[] words)
    {
        foreach (var word in words)
        {
            if (text.Contains(word, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }
}
