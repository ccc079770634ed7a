using System.Globalization;
using System.Text.RegularExpressions;
using ManycoreMail.Mime;

namespace ManycoreMail.Ingress;

/// <summary>
/// <c>X-Send-At</c> on a raw submission (SMTP or HTTP): when the message is to be sent, as an RFC 3339 timestamp
/// (<c>2026-12-24T09:00:00+01:00</c>) or an RFC 5322 date (<c>Thu, 24 Dec 2026 09:00:00 +0100</c>). Read at the door
/// so that a time nobody can read, or one too far ahead, is refused there rather than held and lost later.
/// </summary>
internal static partial class SendAtHeader
{
    public const string Name = "X-Send-At";

    /// <summary>The furthest ahead a message may be held.</summary>
    public static readonly TimeSpan MaxAhead = TimeSpan.FromDays(30);

    private static readonly string[] Months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

    /// <summary>The send time when the message (its parsed <paramref name="headers"/>) asks to be held until a future
    /// moment; null when it has no <c>X-Send-At</c> or its time has come (it is sent as usual); false with a refusal
    /// when the header is unreadable, repeated with different values, or more than <see cref="MaxAhead"/> ahead.</summary>
    public static bool TryRead(MessageHeaders headers, DateTimeOffset now, out DateTimeOffset? holdUntil, out IngressRefusal refusal)
    {
        ArgumentNullException.ThrowIfNull(headers);
        holdUntil = null;
        refusal = null!;
        string? value = null;
        foreach (var field in headers.All(Name))
        {
            if (value is not null && field.Value.Trim() != value)
            {
                refusal = new IngressRefusal($"Conflicting {Name} headers");
                return false;
            }
            value = field.Value.Trim();
        }
        if (value is null)
        {
            return true;
        }
        if (!TryParse(value, out var sendAt))
        {
            refusal = new IngressRefusal($"Malformed header {Name}: '{value}' is neither an RFC 3339 nor an RFC 5322 date");
            return false;
        }
        if (sendAt - now > MaxAhead)
        {
            refusal = new IngressRefusal($"Header {Name}: {sendAt:yyyy-MM-dd'T'HH:mm:ssK} is more than {MaxAhead.TotalDays:0} days ahead");
            return false;
        }
        holdUntil = sendAt > now ? sendAt : null;
        return true;
    }

    /// <summary>An RFC 3339 timestamp or an RFC 5322 date-time, with its offset; false for anything else.</summary>
    public static bool TryParse(string text, out DateTimeOffset sendAt) => TryParseRfc3339(text, out sendAt) || TryParseRfc5322(text, out sendAt);

    private static bool TryParseRfc3339(string text, out DateTimeOffset sendAt)
    {
        sendAt = default;
        var match = Rfc3339().Match(text);
        if (!match.Success)
        {
            return false;
        }
        var offset = match.Groups["zone"].Value is "Z" or "z" ? TimeSpan.Zero
            : Offset(match.Groups["zone"].Value[0], Int(match.Groups["zh"]), Int(match.Groups["zm"]));
        var fraction = match.Groups["fraction"].Success
            ? decimal.Parse("0" + match.Groups["fraction"].Value, CultureInfo.InvariantCulture)
            : 0m;
        if (!TryBuild(Int(match.Groups["year"]), Int(match.Groups["month"]), Int(match.Groups["day"]),
            Int(match.Groups["hour"]), Int(match.Groups["minute"]), Int(match.Groups["second"]), offset, out sendAt))
        {
            return false;
        }
        sendAt = sendAt.AddTicks((long)(fraction * TimeSpan.TicksPerSecond));
        return true;
    }

    private static bool TryParseRfc5322(string text, out DateTimeOffset sendAt)
    {
        sendAt = default;
        var match = Rfc5322().Match(Comments().Replace(text, " "));
        if (!match.Success)
        {
            return false;
        }
        var month = Array.IndexOf(Months, match.Groups["month"].Value.ToLowerInvariant()) + 1;
        if (month == 0 || !TryZone(match.Groups["zone"].Value, out var offset))
        {
            return false;
        }
        var year = Int(match.Groups["year"]);
        // RFC 5322 4.3: obsolete two- and three-digit years.
        year = match.Groups["year"].Value.Length switch
        {
            2 => year < 50 ? 2000 + year : 1900 + year,
            3 => 1900 + year,
            _ => year,
        };
        var second = match.Groups["second"].Success ? Int(match.Groups["second"]) : 0;
        return TryBuild(year, month, Int(match.Groups["day"]), Int(match.Groups["hour"]), Int(match.Groups["minute"]), second, offset, out sendAt);
    }

    /// <summary>A numeric zone (+hhmm) or one of RFC 5322's obsolete names; military letters are refused, as their
    /// meaning was never agreed (RFC 5322 4.3).</summary>
    private static bool TryZone(string zone, out TimeSpan offset)
    {
        offset = TimeSpan.Zero;
        if (zone.Length == 5 && zone[0] is '+' or '-')
        {
            var hours = int.Parse(zone.AsSpan(1, 2), CultureInfo.InvariantCulture);
            var minutes = int.Parse(zone.AsSpan(3, 2), CultureInfo.InvariantCulture);
            if (minutes > 59)
            {
                return false;
            }
            offset = Offset(zone[0], hours, minutes);
            return true;
        }
        int? hoursEast = zone.ToUpperInvariant() switch
        {
            "UT" or "UTC" or "GMT" or "Z" => 0,
            "EST" => -5,
            "EDT" => -4,
            "CST" => -6,
            "CDT" => -5,
            "MST" => -7,
            "MDT" => -6,
            "PST" => -8,
            "PDT" => -7,
            _ => null,
        };
        offset = TimeSpan.FromHours(hoursEast ?? 0);
        return hoursEast is not null;
    }

    private static TimeSpan Offset(char sign, int hours, int minutes) =>
        (sign == '-' ? -1 : 1) * new TimeSpan(hours, minutes, 0);

    private static bool TryBuild(int year, int month, int day, int hour, int minute, int second, TimeSpan offset, out DateTimeOffset result)
    {
        result = default;
        // A leap second names the last second of its minute.
        second = second == 60 ? 59 : second;
        if (year is < 1 or > 9998 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month)
            || hour > 23 || minute > 59 || second > 59 || offset.Duration() >= TimeSpan.FromHours(14.01))
        {
            return false;
        }
        result = new DateTimeOffset(year, month, day, hour, minute, second, offset);
        return true;
    }

    private static int Int(Group group) => int.Parse(group.ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^(?<year>\d{4})-(?<month>\d{2})-(?<day>\d{2})[Tt ](?<hour>\d{2}):(?<minute>\d{2}):(?<second>\d{2})(?<fraction>\.\d{1,9})?(?<zone>[Zz]|[+-](?<zh>\d{2}):(?<zm>\d{2}))$",
        RegexOptions.CultureInvariant)]
    private static partial Regex Rfc3339();

    [GeneratedRegex(@"^\s*(?:[A-Za-z]{3}\s*,\s*)?(?<day>\d{1,2})\s+(?<month>[A-Za-z]{3})\s+(?<year>\d{2,4})\s+(?<hour>\d{2})\s*:\s*(?<minute>\d{2})(?:\s*:\s*(?<second>\d{2}))?\s+(?<zone>[+-]\d{4}|[A-Za-z]{1,3})\s*$",
        RegexOptions.CultureInvariant)]
    private static partial Regex Rfc5322();

    /// <summary>RFC 5322 comments, such as the "(UTC)" some clients append; not nested.</summary>
    [GeneratedRegex(@"\([^()]*\)", RegexOptions.CultureInvariant)]
    private static partial Regex Comments();
}
