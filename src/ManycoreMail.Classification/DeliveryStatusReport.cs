namespace ManycoreMail.Classification;

/// <summary>One per-recipient field group of an RFC 3464 message/delivery-status body.</summary>
internal sealed record DeliveryStatusRecipient(
    string Address, string? Action, string? Status, string? DiagnosticCode, string? RemoteMta);

/// <summary>
/// Reads the body of a message/delivery-status part (RFC 3464 §2): a per-message group, then one group per
/// recipient, separated by empty lines. Real MTAs forget the empty lines or put everything in one group, so a
/// new group also starts at every further Final-Recipient / Original-Recipient.
/// </summary>
internal static class DeliveryStatusReport
{
    private const int MaxRecipients = 1000;

    public static (string? ReportingMta, List<DeliveryStatusRecipient> Recipients) Parse(string body)
    {
        var groups = new List<List<ReportField>>();
        var current = new List<ReportField>();
        string? reportingMta = null;
        var lines = body.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        string? name = null;
        var value = "";
        foreach (var raw in lines)
        {
            if (raw.Length == 0 || raw.AsSpan().IsWhiteSpace())
            {
                Flush();
                if (current.Count > 0)
                {
                    groups.Add(current);
                    current = [];
                }
                continue;
            }
            if (raw[0] is ' ' or '\t' && name is not null)
            {
                value += " " + raw.Trim();
                continue;
            }
            var colon = raw.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || raw.AsSpan(0, colon).ContainsAny(' ', '\t'))
            {
                Flush();
                continue;
            }
            Flush();
            name = raw[..colon].Trim();
            value = raw[(colon + 1)..].Trim();
            if (StartsNewGroup(current, name))
            {
                groups.Add(current);
                current = [];
            }
        }
        Flush();
        if (current.Count > 0)
        {
            groups.Add(current);
        }

        var recipients = new List<DeliveryStatusRecipient>();
        foreach (var group in groups)
        {
            reportingMta ??= Value(group, "Reporting-MTA") is { } mta ? AfterType(mta) : null;
            var final = Value(group, "Final-Recipient") ?? Value(group, "X-Actual-Recipient") ?? Value(group, "Original-Recipient");
            if (final is null)
            {
                continue;
            }
            var address = AddressOf(final);
            if (address is null && Value(group, "Original-Recipient") is { } original)
            {
                address = AddressOf(original);
            }
            if (address is null || recipients.Count >= MaxRecipients)
            {
                continue;
            }
            recipients.Add(new DeliveryStatusRecipient(
                address,
                Value(group, "Action")?.Trim().ToLowerInvariant(),
                StatusCodes.Find(Value(group, "Status")),
                Value(group, "Diagnostic-Code") is { } diagnostic ? AfterType(diagnostic) : null,
                Value(group, "Remote-MTA") is { } remote ? AfterType(remote) : null));
        }
        return (reportingMta, recipients);

        void Flush()
        {
            if (name is not null)
            {
                current.Add(new ReportField(name, value));
            }
            name = null;
            value = "";
        }
    }

    private static bool IsRecipientStart(string name) =>
        name.Equals("Final-Recipient", StringComparison.OrdinalIgnoreCase) || name.Equals("Original-Recipient", StringComparison.OrdinalIgnoreCase);

    // A second Final-Recipient or Original-Recipient, or one after the group's Status, means a missing empty line.
    // (Action may come first: Amazon SES writes Action, Final-Recipient, Original-Recipient, ..., Status.)
    private static bool StartsNewGroup(List<ReportField> group, string name) =>
        IsRecipientStart(name)
        && (group.Exists(f => f.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
            || group.Exists(f => f.Name.Equals("Status", StringComparison.OrdinalIgnoreCase)));

    private static string? Value(List<ReportField> group, string name)
    {
        foreach (var field in group)
        {
            if (field.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return field.Value;
            }
        }
        return null;
    }

    /// <summary>"rfc822; user@example.com" → "user@example.com"; "smtp; 550 ..." → "550 ...".</summary>
    internal static string AfterType(string value)
    {
        var semicolon = value.IndexOf(';', StringComparison.Ordinal);
        return (semicolon >= 0 && semicolon < 20 ? value[(semicolon + 1)..] : value).Trim();
    }

    internal static string? AddressOf(string value)
    {
        var text = AfterType(value).Trim().Trim('<', '>', '"', '\'').Trim();
        var lt = text.IndexOf('<', StringComparison.Ordinal);
        if (lt >= 0)
        {
            var gt = text.IndexOf('>', lt);
            text = gt > lt ? text[(lt + 1)..gt] : text[(lt + 1)..];
        }
        var space = text.IndexOfAny([' ', '\t']);
        if (space > 0)
        {
            text = text[..space];
        }
        return text.Contains('@', StringComparison.Ordinal) ? text.ToLowerInvariant() : null;
    }
}
