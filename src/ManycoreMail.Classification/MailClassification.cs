namespace ManycoreMail.Classification;

/// <summary>What a mail received by the MX server is.</summary>
public enum MailKind
{
    Other,
    Bounce,
    Feedback,
    AutoReply,
    Unsubscribe,
}

/// <summary>The original system's bounce <c>type</c> values.</summary>
public static class BounceTypes
{
    /// <summary>Permanent failure (5.x.x).</summary>
    public const string Hard = "hard";
    /// <summary>Transient failure or delay (4.x.x).</summary>
    public const string Soft = "soft";
    /// <summary>The domain or host cannot be reached (permanent).</summary>
    public const string Unroutable = "unroutable";
    public const string AutoReply = "autoreply";
}

/// <summary>One recipient a bounce reports as failed or delayed.</summary>
/// <param name="Address">The failed recipient (Final-Recipient, or what the MTA's text names).</param>
/// <param name="Type">One of <see cref="BounceTypes"/>.</param>
/// <param name="Class">sisimai's reason name (userunknown, mailboxfull, ...); decides suppression later.</param>
/// <param name="Status">RFC 3463 enhanced status code, when the bounce states or implies one.</param>
/// <param name="Diagnostic">The remote server's words (Diagnostic-Code, or the text that explains the failure).</param>
/// <param name="RemoteMta">The server that refused, when known.</param>
/// <param name="Action">RFC 3464 action (failed, delayed), "failed" for a non-standard bounce.</param>
public sealed record BounceRecipient(string Address, string Type, string Class, string? Status, string Diagnostic, string? RemoteMta, string Action);

/// <summary>The verdict on one received mail.</summary>
public sealed record MailClassification
{
    public required MailKind Kind { get; init; }

    /// <summary>The message uuid this mail answers, when it could be matched.</summary>
    public string? Uuid { get; init; }

    /// <summary>Failed recipients of a bounce (first one first); empty for other kinds.</summary>
    public IReadOnlyList<BounceRecipient> Recipients { get; init; } = [];

    /// <summary>The complaining recipient of a feedback report, the author of an auto-reply.</summary>
    public string? Email { get; init; }

    /// <summary>The ARF Feedback-Type (abuse, opt-out, auth-failure, ...).</summary>
    public string? FeedbackType { get; init; }

    /// <summary>Why the verdict was reached, for logs (e.g. "rfc3464", "arf", "auto-submitted", "text:qmail").</summary>
    public string Evidence { get; init; } = "";
}
