using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace ManycoreMail.Mime;

/// <summary>RFC 2047 encoded words (=?charset?B?...?= and =?charset?Q?...?=) in header text.</summary>
public static class EncodedWords
{
    /// <summary>Decode every well-formed encoded word; whitespace between two adjacent encoded words is dropped
    /// (RFC 2047 §6.2) and adjacent words in the same charset are decoded together, so a multi-byte character
    /// split across words survives. Malformed words stay as written; a charset nobody knows is decoded by
    /// <see cref="MimeCharsets.Decode"/>'s fallback, since its ASCII (a subject, an address) is still worth reading.</summary>
    public static string Decode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.Contains("=?", StringComparison.Ordinal))
        {
            return text;
        }

        var output = new StringBuilder(text.Length);
        var pending = new ArrayBufferWriter<byte>();
        string? pendingCharset = null;
        var index = 0;
        var lastWordEnd = -1;
        while (index < text.Length)
        {
            var start = text.IndexOf("=?", index, StringComparison.Ordinal);
            if (start < 0)
            {
                break;
            }
            if (!TryParseWord(text, start, out var charset, out var encoding, out var payload, out var end))
            {
                Flush();
                output.Append(text, index, start + 2 - index);
                index = start + 2;
                lastWordEnd = -1;
                continue;
            }

            var gap = text.AsSpan(index, start - index);
            var adjacent = lastWordEnd == index && gap.Trim(" \t\r\n").IsEmpty;
            if (!adjacent || !string.Equals(charset, pendingCharset, StringComparison.OrdinalIgnoreCase))
            {
                Flush();
                if (!adjacent)
                {
                    output.Append(gap);
                }
            }
            pendingCharset = charset;
            if (encoding is 'B' or 'b')
            {
                DecodeBase64(payload, pending);
            }
            else
            {
                DecodeQ(payload, pending);
            }
            index = end;
            lastWordEnd = end;
        }
        Flush();
        output.Append(text, index, text.Length - index);
        return output.ToString();

        void Flush()
        {
            if (pendingCharset is not null && pending.WrittenCount > 0)
            {
                output.Append(MimeCharsets.Decode(pending.WrittenSpan, pendingCharset));
            }
            pending.Clear();
            pendingCharset = null;
        }
    }

    private static bool TryParseWord(string text, int start, out string charset, out char encoding, out ReadOnlySpan<char> payload, out int end)
    {
        charset = string.Empty;
        encoding = default;
        payload = default;
        end = 0;
        var charsetStart = start + 2;
        var q1 = text.IndexOf('?', charsetStart);
        if (q1 <= charsetStart || q1 + 2 >= text.Length || text[q1 + 2] != '?')
        {
            return false;
        }
        encoding = text[q1 + 1];
        if (encoding is not ('B' or 'b' or 'Q' or 'q'))
        {
            return false;
        }
        var payloadStart = q1 + 3;
        var close = text.IndexOf("?=", payloadStart, StringComparison.Ordinal);
        if (close < 0)
        {
            return false;
        }
        var span = text.AsSpan(charsetStart, close + 2 - charsetStart);
        if (span.IndexOfAny(" \t\r\n") >= 0)
        {
            return false;
        }
        charset = text[charsetStart..q1];
        payload = text.AsSpan(payloadStart, close - payloadStart);
        end = close + 2;
        return true;
    }

    private static void DecodeBase64(ReadOnlySpan<char> payload, ArrayBufferWriter<byte> output)
    {
        Span<byte> ascii = payload.Length <= 1024 ? stackalloc byte[payload.Length + 3] : new byte[payload.Length + 3];
        var length = 0;
        foreach (var c in payload)
        {
            if (c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '+' or '/')
            {
                ascii[length++] = (byte)c;
            }
        }
        // Tolerate missing padding, as mail clients do.
        if (length % 4 == 1)
        {
            length--;
        }
        while (length % 4 != 0)
        {
            ascii[length++] = (byte)'=';
        }
        var destination = output.GetSpan(length / 4 * 3);
        Base64.DecodeFromUtf8(ascii[..length], destination, out _, out var written);
        output.Advance(written);
    }

    private static void DecodeQ(ReadOnlySpan<char> payload, ArrayBufferWriter<byte> output)
    {
        var destination = output.GetSpan(payload.Length * 3);
        var length = 0;
        for (var i = 0; i < payload.Length; i++)
        {
            var c = payload[i];
            if (c == '_')
            {
                destination[length++] = (byte)' ';
            }
            else if (c == '=' && i + 2 < payload.Length && HexDigit.TryParse(payload[i + 1], payload[i + 2], out var value))
            {
                destination[length++] = value;
                i += 2;
            }
            else if (c < 0x80)
            {
                destination[length++] = (byte)c;
            }
            else
            {
                // Raw non-ASCII inside an encoded word is invalid but happens: keep it as UTF-8.
                length += Encoding.UTF8.GetBytes(payload.Slice(i, char.IsHighSurrogate(c) && i + 1 < payload.Length ? 2 : 1), destination[length..]);
                if (char.IsHighSurrogate(c) && i + 1 < payload.Length)
                {
                    i++;
                }
            }
        }
        output.Advance(length);
    }
}

internal static class HexDigit
{
    public static bool TryParse(char high, char low, out byte value)
    {
        var h = Value(high);
        var l = Value(low);
        value = (byte)((h << 4) | l);
        return h >= 0 && l >= 0;
    }

    public static bool TryParse(byte high, byte low, out byte value) => TryParse((char)high, (char)low, out value);

    private static int Value(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'A' and <= 'F' => c - 'A' + 10,
        >= 'a' and <= 'f' => c - 'a' + 10,
        _ => -1,
    };
}
