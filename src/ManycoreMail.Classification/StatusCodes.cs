using System.Text.RegularExpressions;

namespace ManycoreMail.Classification;

/// <summary>Finds RFC 3463 enhanced status codes and RFC 5321 reply codes in free text.</summary>
internal static partial class StatusCodes
{
    [GeneratedRegex(@"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex EnhancedCode();

    [GeneratedRegex(@"(?<![\d.#-])([45])[0-5]\d(?=[ -]|$)(?![ -]?\d{3})", RegexOptions.CultureInvariant | RegexOptions.Multiline, matchTimeoutMilliseconds: 1000)]
    private static partial Regex ReplyCode();

    /// <summary>The first enhanced status code in the text, normalised ("5.1.1").</summary>
    public static string? Find(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }
        var match = EnhancedCode().Match(text);
        return match.Success ? $"{match.Groups[1].Value}.{int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)}.{int.Parse(match.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture)}" : null;
    }

    /// <summary>The class digit ('4' or '5') of the first SMTP reply code in the text, or null.</summary>
    public static char? FindReplyClass(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }
        var match = ReplyCode().Match(text);
        return match.Success ? match.Groups[1].Value[0] : null;
    }
}
