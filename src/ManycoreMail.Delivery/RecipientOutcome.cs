namespace ManycoreMail.Delivery;

/// <summary>What became of one recipient in one delivery attempt.</summary>
internal abstract record RecipientOutcome(string Recipient)
{
    /// <summary>The MX host that answered, when one did (for the outcome log line).</summary>
    public string? MxHost { get; init; }

    /// <summary>The server's reply as it was given, when one was (for the outcome log line).</summary>
    public string? Reply { get; init; }

    /// <summary><paramref name="Ip"/> is null for the outbox (<c>sender/sink</c>), which sets <see cref="Outbox"/> instead.</summary>
    public sealed record Delivered(string Recipient, string? Ip) : RecipientOutcome(Recipient)
    {
        public OutboxRecord? Outbox { get; init; }
    }

    /// <summary>Final failure: <paramref name="Type"/> is the original's bounce type (hard, unroutable);
    /// <paramref name="Class"/> is ours (<see cref="BounceClass"/>, for metrics); <paramref name="ReportClass"/> is the
    /// class the bounce event carries, in the MX server's vocabulary (sisimai's: userunknown, hostunknown, ...), which
    /// decides automatic suppression; null when no server or DNS answer said why (an operator's bounce, an address we
    /// cannot write).</summary>
    public sealed record Bounced(string Recipient, string Type, string Reason, string? Ip, string Class = BounceClass.Other, string? ReportClass = null)
        : RecipientOutcome(Recipient);

    /// <summary>Try again later. <paramref name="SiteAnswered"/> is false when no server could be reached
    /// (DNS or connection trouble), which makes an eventual expiry "unroutable" rather than "soft".
    /// <paramref name="NotBefore"/> is set when the site itself says when (throttling, back-off); otherwise the
    /// retry schedule decides.</summary>
    public sealed record Deferred(string Recipient, string Reason, bool SiteAnswered, string Class = BounceClass.Other, DateTimeOffset? NotBefore = null)
        : RecipientOutcome(Recipient);
}

/// <summary>Where the sink put a delivered recipient's message, and the return path (MAIL FROM) it would have had.</summary>
internal sealed record OutboxRecord(string File, string ReturnPath);
