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
        return DateTimeOffset.TryParse(trimmed, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out value)
            && trimmed.Contains('-', StringComparison.Ordinal);
    }
}
