using System.Text;

namespace ManycoreMail.Mime;

/// <summary>Maps MIME charset names to decoders, without registering anything process-wide.</summary>
public static class MimeCharsets
{
    /// <summary>The decoder for a MIME charset name (RFC 2231 language suffix allowed), or false when unknown.
    /// us-ascii is read as UTF-8, its superset, because real mail labels 8-bit text that way.</summary>
    public static bool TryGetEncoding(string? name, out Encoding encoding)
    {
        encoding = Encoding.UTF8;
        if (string.IsNullOrWhiteSpace(name))
        {
            return false;
        }
        var span = name.AsSpan().Trim();
        var star = span.IndexOf('*');
        if (star >= 0)
        {
            span = span[..star];
        }

        if (IsAsciiCompatibleKnown(span, out var known))
        {
            encoding = known;
            return true;
        }
        try
        {
            var label = span.ToString();
            var found = System.Text.CodePagesEncodingProvider.Instance.GetEncoding(label);
            if (found is not null)
            {
                encoding = found;
                return true;
            }
            encoding = Encoding.GetEncoding(label);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>True for charsets in which every byte below 0x80 is the ASCII character, so markup such as
    /// "&lt;/body&gt;" can be found and inserted on the encoded bytes without decoding the text. A missing
    /// charset means us-ascii (RFC 2045).</summary>
    public static bool IsAsciiCompatible(string? name, out bool isUtf8)
    {
        isUtf8 = false;
        if (name is null)
        {
            return true;
        }
        var span = name.AsSpan().Trim();
        if (span.IsEmpty)
        {
            return true;
        }
        if (span.Equals("utf-8", StringComparison.OrdinalIgnoreCase) || span.Equals("utf8", StringComparison.OrdinalIgnoreCase))
        {
            isUtf8 = true;
            return true;
        }
        return IsAsciiCompatibleKnown(span, out _)
            || span.StartsWith("iso-8859-", StringComparison.OrdinalIgnoreCase)
            || span.StartsWith("windows-125", StringComparison.OrdinalIgnoreCase)
            || span.Equals("koi8-r", StringComparison.OrdinalIgnoreCase)
            || span.Equals("koi8-u", StringComparison.OrdinalIgnoreCase);
    }

    private static bool IsAsciiCompatibleKnown(ReadOnlySpan<char> name, out Encoding encoding)
    {
        encoding = Encoding.UTF8;
        if (name.Equals("utf-8", StringComparison.OrdinalIgnoreCase) || name.Equals("utf8", StringComparison.OrdinalIgnoreCase)
            || name.Equals("us-ascii", StringComparison.OrdinalIgnoreCase) || name.Equals("ascii", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        if (name.Equals("iso-8859-1", StringComparison.OrdinalIgnoreCase) || name.Equals("iso8859-1", StringComparison.OrdinalIgnoreCase)
            || name.Equals("latin1", StringComparison.OrdinalIgnoreCase) || name.Equals("l1", StringComparison.OrdinalIgnoreCase))
        {
            encoding = Encoding.Latin1;
            return true;
        }
        if (name.Equals("windows-1252", StringComparison.OrdinalIgnoreCase) || name.Equals("cp1252", StringComparison.OrdinalIgnoreCase))
        {
            encoding = System.Text.CodePagesEncodingProvider.Instance.GetEncoding(1252) ?? Encoding.Latin1;
            return true;
        }
        return false;
    }
}
