namespace ManycoreMail.Compose;

/// <summary>Which custom headers a send request may set, and what their names and values may hold.</summary>
public static class HeaderRules
{
    // The composer writes these itself (or the MTA relies on them: control headers the receivers and the
    // transformer read); letting a caller set them would forge identity, break MIME or steer the queue.
    private static readonly HashSet<string> Reserved = new(StringComparer.OrdinalIgnoreCase)
    {
        "From", "To", "Cc", "Bcc", "Subject", "Reply-To", "Sender", "Date", "MIME-Version", "Message-ID",
        "DKIM-Signature", "Return-Path", "Received",
        "X-Uuid", "X-Priority", "X-Stream-Id", "X-Tenant", "X-RecipientIb", "X-ReturnPathIb", "X-Original-To",
    };

    /// <summary>Why a header name may not be set by a caller, or null when it may.</summary>
    public static string? CheckName(string name)
    {
        if (name.Length == 0 || name.Length > 76)
        {
            return "header name must be 1 to 76 characters";
        }
        foreach (var c in name)
        {
            // RFC 5322 §2.2 ftext: printable US-ASCII except colon.
            if (c is < '!' or > '~' or ':')
            {
                return "header name may hold only printable ASCII without ':'";
            }
        }
        if (Reserved.Contains(name) || name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase))
        {
            return $"header {name} is set by the server and may not be given";
        }
        return null;
    }

    /// <summary>Why a header value cannot be written, or null. CR and LF would start a header of the caller's own.</summary>
    public static string? CheckValue(string value)
    {
        foreach (var c in value)
        {
            if (c is '\r' or '\n')
            {
                return "header value may not contain CR or LF";
            }
            if (char.IsControl(c) && c != '\t')
            {
                return "header value may not contain control characters";
            }
        }
        return null;
    }
}
