using System.Diagnostics.CodeAnalysis;

namespace ManycoreMail.Dkim;

/// <summary>RFC 6376 §3.2 tag=value lists, as used by DKIM-Signature fields and key records.</summary>
public static class DkimTagList
{
    /// <summary>Tag names are case-sensitive; values keep their inner whitespace (FWS) but lose it at both ends.
    /// A duplicate tag, a tag without '=', an invalid tag name or a control character is an error.</summary>
    public static bool TryParse(string text, [NotNullWhen(true)] out IReadOnlyDictionary<string, string>? tags, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        tags = null;
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var specs = text.Split(';');
        for (var i = 0; i < specs.Length; i++)
        {
            var spec = specs[i];
            if (IsWhitespace(spec))
            {
                // Only the list's optional final ';' may leave an empty spec behind it.
                if (i == specs.Length - 1 && i > 0)
                {
                    break;
                }
                error = "empty tag in the tag list";
                return false;
            }
            var equals = spec.IndexOf('=');
            if (equals < 0)
            {
                error = $"tag '{Trim(spec)}' has no '='";
                return false;
            }
            var name = Trim(spec[..equals]);
            if (!IsTagName(name))
            {
                error = $"'{name}' is not a valid tag name";
                return false;
            }
            var value = Trim(spec[(equals + 1)..]);
            if (value.Any(c => c < ' ' && c is not '\t' and not '\r' and not '\n' || c == '\x7f'))
            {
                error = $"tag '{name}' has a control character in its value";
                return false;
            }
            if (!result.TryAdd(name, value))
            {
                error = $"tag '{name}' appears more than once";
                return false;
            }
        }
        tags = result;
        error = null;
        return true;
    }

    /// <summary>The value without any whitespace (FWS may appear anywhere in base64 values and header lists).</summary>
    public static string RemoveWhitespace(string value) =>
        string.Concat(value.Where(c => c is not (' ' or '\t' or '\r' or '\n')));

    private static bool IsWhitespace(string text) => text.All(c => c is ' ' or '\t' or '\r' or '\n');

    private static string Trim(string text) => text.Trim(' ', '\t', '\r', '\n');

    private static bool IsTagName(string name) =>
        name.Length > 0 && char.IsAsciiLetter(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
