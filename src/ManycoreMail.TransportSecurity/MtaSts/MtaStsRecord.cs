namespace ManycoreMail.TransportSecurity.MtaSts;

/// <summary>The <c>_mta-sts</c> TXT record (RFC 8461 §3.1): "v=STSv1; id=20160831085700Z;". Only its id matters:
/// a new id tells senders the policy changed.</summary>
public sealed record MtaStsRecord(string Id)
{
    /// <summary>The one record among <paramref name="txtRecords"/> that starts with "v=STSv1"; null when there is none
    /// or more than one (§3.1: then the domain has no usable record), or its id is missing or malformed.</summary>
    public static MtaStsRecord? Select(IEnumerable<string> txtRecords)
    {
        ArgumentNullException.ThrowIfNull(txtRecords);
        var candidates = txtRecords.Where(t => t.StartsWith("v=STSv1", StringComparison.Ordinal)).Take(2).ToArray();
        return candidates.Length == 1 ? Parse(candidates[0]) : null;
    }

    /// <summary>Fields are "key=value" separated by ";" with optional whitespace; id is 1-32 letters and digits;
    /// unknown fields are ignored (§3.1).</summary>
    public static MtaStsRecord? Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var fields = text.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length == 0 || fields[0] != "v=STSv1")
        {
            return null;
        }

        string? id = null;
        foreach (var field in fields.Skip(1))
        {
            var equals = field.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0 && field.AsSpan(0, equals).Trim() is "id")
            {
                id = field[(equals + 1)..].Trim();
            }
        }

        return id is { Length: > 0 and <= 32 } && id.All(char.IsAsciiLetterOrDigit) ? new MtaStsRecord(id) : null;
    }
}
