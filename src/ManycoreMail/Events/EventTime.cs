using System.Globalization;

namespace ManycoreMail.Events;

/// <summary>The <c>since</c>/<c>until</c> of an event query, as the API and the CLI take them.</summary>
internal static class EventTime
{
    /// <summary>Unix seconds (digits only) or an ISO 8601 date and time; one without an offset is UTC.</summary>
    public static bool TryParse(string text, out DateTimeOffset value)
    {
        var trimmed = text.Trim();
        if (trimmed.Length > 0 && trimmed.All(char.IsAsciiDigit))
        {
            if (long.TryParse(trimmed, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
                && seconds <= DateTimeOffset.MaxValue.ToUnixTimeSeconds())
            {
                value = DateTimeOffset.FromUnixTimeSeconds(seconds);
                return true;
            }
            value = default;
            return false;
        }
        // A date must lead (YYYY-): the invariant parser would otherwise take "12:00" as today and "5/6" as May.
        if (trimmed.Length >= 10 && trimmed[..4].All(char.IsAsciiDigit) && trimmed[4] == '-')
        {
            return DateTimeOffset.TryParse(trimmed, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out value);
        }
        value = default;
        return false;
    }
}
