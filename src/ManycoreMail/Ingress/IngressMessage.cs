using ManycoreMail.Mime;

namespace ManycoreMail.Ingress;

/// <summary>How strictly X-Priority is read: the HTTP API refuses values other than 0 and 1 (as the
/// original did); SMTP clients send things like "3 (Normal)", so SMTP treats anything but 0 as default.</summary>
internal enum PriorityRule
{
    Strict,
    Lenient,
}

/// <summary>Why a submitted message was refused at the door, with the SMTP reply code and enhanced status it gets
/// (the HTTP receiver answers 400 whatever they are).</summary>
internal sealed record IngressRefusal(string Message, int SmtpCode = 554, string EnhancedStatus = "5.6.0");

/// <summary>What the receivers learn from a submitted message before queueing it.</summary>
internal sealed record IngressMessage(string Uuid, bool IsPrimary, int RecipientCount);

/// <summary>
/// The rules both receivers apply before a message is queued. Checking here, at the door, means a bad
/// message gets a precise refusal instead of failing later in the transformer (as the original's SMTP
/// receiver let it).
/// </summary>
internal static class IngressRules
{
    private const int MaxUuidLength = 200;

    public static bool TryAccept(ReadOnlyMemory<byte> message, PriorityRule priorityRule, out IngressMessage accepted, out IngressRefusal refusal) =>
        TryAccept(message, priorityRule, out accepted, out _, out refusal);

    /// <summary>The same, and the message's parsed header block, so that the door's later steps (tenant, send time)
    /// read it without parsing the message again.</summary>
    public static bool TryAccept(ReadOnlyMemory<byte> message, PriorityRule priorityRule, out IngressMessage accepted, out MessageHeaders headers,
        out IngressRefusal refusal)
    {
        accepted = null!;
        if (!MessageHeaders.TryParse(message, out headers, out var error))
        {
            refusal = new IngressRefusal("Malformed message header: " + error);
            return false;
        }
        if (!TryReadUuid(headers, out var uuid, out refusal))
        {
            return false;
        }
        if (!TryReadPriority(headers, priorityRule, out var isPrimary, out refusal))
        {
            return false;
        }
        var recipients = Recipients(headers);
        if (recipients.Count == 0)
        {
            refusal = new IngressRefusal("No recipient in the To, Cc or Bcc headers");
            return false;
        }
        if (RecipientAddressRule.Check(recipients) is { } unwritable)
        {
            refusal = unwritable;
            return false;
        }
        accepted = new IngressMessage(uuid, isPrimary, recipients.Count);
        refusal = null!;
        return true;
    }

    private static bool TryReadUuid(MessageHeaders headers, out string uuid, out IngressRefusal refusal)
    {
        uuid = "";
        refusal = null!;
        string? found = null;
        foreach (var field in headers.All("X-Uuid"))
        {
            if (found is not null && field.Value != found)
            {
                refusal = new IngressRefusal("Conflicting X-Uuid headers");
                return false;
            }
            found = field.Value;
        }
        if (found is null)
        {
            refusal = new IngressRefusal("Missing header X-Uuid");
            return false;
        }
        if (found.Length is 0 or > MaxUuidLength || !IsLowerAlphanumeric(found))
        {
            refusal = new IngressRefusal("Malformed header X-Uuid, expecting [a-z0-9]+");
            return false;
        }
        uuid = found;
        return true;
    }

    private static bool TryReadPriority(MessageHeaders headers, PriorityRule rule, out bool isPrimary, out IngressRefusal refusal)
    {
        refusal = null!;
        // The last occurrence counts, as in the original HTTP receiver.
        var value = headers.Last("X-Priority");
        isPrimary = value == "0";
        if (rule == PriorityRule.Strict && value is not null and not "0" and not "1")
        {
            refusal = new IngressRefusal($"Unexpected value '{value}' for header X-Priority (expected 0 or 1)");
            return false;
        }
        return true;
    }

    /// <summary>Mailboxes in every To, Cc and Bcc header (Bcc recipients are delivered too).</summary>
    public static IReadOnlyList<MailboxAddress> Recipients(MessageHeaders headers)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var recipients = new List<MailboxAddress>();
        foreach (var name in (ReadOnlySpan<string>)["To", "Cc", "Bcc"])
        {
            foreach (var field in headers.All(name))
            {
                foreach (var mailbox in AddressParser.ParseList(field.Value))
                {
                    if (seen.Add(mailbox.Address))
                    {
                        recipients.Add(mailbox);
                    }
                }
            }
        }
        return recipients;
    }

    private static bool IsLowerAlphanumeric(string text)
    {
        foreach (var c in text)
        {
            if (c is not (>= 'a' and <= 'z') and not (>= '0' and <= '9'))
            {
                return false;
            }
        }
        return true;
    }
}
