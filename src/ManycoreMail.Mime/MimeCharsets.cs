using System.Text;
using System.Text.Unicode;

namespace ManycoreMail.Mime;

/// <summary>
/// The one place a MIME charset name becomes a decoder, without registering anything process-wide. Total: no
/// name makes it throw, and <see cref="Decode"/> turns any bytes under any label into text. Mail is written by
/// every kind of software, so a label it does not know must cost a few odd characters, never the message.
/// </summary>
public static class MimeCharsets
{
    // .NET 5+ refuses UTF-7 by name (Encoding.GetEncoding throws NotSupportedException, SYSLIB0001) because an
    // encoder that emits it can smuggle markup past filters. Decoding it to read a header is what mail clients do,
    // and the BCL's decoder is still there and well tested, so it is used here by type rather than by name.
#pragma warning disable SYSLIB0001
    private static readonly Encoding Utf7 = new UTF7Encoding(allowOptionals: true);
#pragma warning restore SYSLIB0001

    /// <summary>The decoder for a MIME charset name (RFC 2231 language suffix allowed), or false when unknown.
    /// us-ascii is read as UTF-8, its superset, because real mail labels 8-bit text that way. Never throws; the
    /// decoders it returns replace what they cannot read rather than throw.</summary>
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
            span = span[..star].Trim();
        }
        if (span.IsEmpty)
        {
            return false;
        }

        if (IsAsciiCompatibleKnown(span, out var known))
        {
            encoding = known;
            return true;
        }
        if (IsUtf7(span))
        {
            encoding = Utf7;
            return true;
        }
        var label = span.ToString();
        try
        {
            // The code pages first (they answer null for a name they do not know), then the BCL's own (UTF-16,
            // UTF-32 and their aliases), whose lookup reports an unknown or refused name only by throwing: both
            // mean "not a charset we read".
            encoding = System.Text.CodePagesEncodingProvider.Instance.GetEncoding(label) ?? Encoding.GetEncoding(label);
            return true;
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            encoding = Encoding.UTF8;
            return false;
        }
    }

    /// <summary>Text of <paramref name="bytes"/> labelled <paramref name="charset"/>. A missing or unknown label
    /// falls back to UTF-8 when the bytes are well-formed UTF-8 (what unlabelled 8-bit mail mostly is today), and
    /// otherwise to Latin-1, which maps every byte to one character: nothing is dropped, and the ASCII that
    /// matters to a reader of mail (addresses, status codes, keywords) comes through whatever the real charset was.</summary>
    public static string Decode(ReadOnlySpan<byte> bytes, string? charset)
    {
        if (TryGetEncoding(charset, out var encoding))
        {
            return encoding.GetString(bytes);
        }
        return Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : Encoding.Latin1.GetString(bytes);
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

    private static bool IsUtf7(ReadOnlySpan<char> name) =>
        name.Equals("utf-7", StringComparison.OrdinalIgnoreCase) || name.Equals("utf7", StringComparison.OrdinalIgnoreCase)
        || name.Equals("unicode-1-1-utf-7", StringComparison.OrdinalIgnoreCase) || name.Equals("csunicode11utf7", StringComparison.OrdinalIgnoreCase)
        || name.Equals("x-unicode-1-1-utf-7", StringComparison.OrdinalIgnoreCase) || name.Equals("x-unicode-2-0-utf-7", StringComparison.OrdinalIgnoreCase);

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
