using System.Security.Cryptography;

namespace ManycoreMail.Dkim;

/// <summary>RFC 6376 §3.4.1 and §3.4.3 "simple" canonicalisation, on bytes.</summary>
public static class SimpleCanonicalization
{
    /// <summary>Feed the simple canonical form of <paramref name="body"/> to <paramref name="hash"/>, at most
    /// <paramref name="limit"/> bytes of it: the body as it is, with trailing empty lines reduced to none and one
    /// CRLF appended (so an empty body is a single CRLF). The body itself is hashed in place, never copied.
    /// Returns the length of the whole canonical body.</summary>
    public static long HashBody(ReadOnlySpan<byte> body, IncrementalHash hash, long limit)
    {
        ArgumentNullException.ThrowIfNull(hash);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        var content = body;
        while (content.EndsWith("\r\n"u8))
        {
            content = content[..^2];
        }
        if (limit > 0)
        {
            hash.AppendData(content.Length <= limit ? content : content[..(int)limit]);
        }
        var room = limit - content.Length;
        if (room > 0)
        {
            hash.AppendData("\r\n"u8[..(int)Math.Min(room, 2)]);
        }
        return content.Length + 2L;
    }
}
