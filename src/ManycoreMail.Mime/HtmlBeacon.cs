using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace ManycoreMail.Mime;

/// <summary>Inserts HTML (a tracking pixel) before the last &lt;/body&gt; of every text/html part, at any
/// multipart depth, decoding and re-encoding the part's Content-Transfer-Encoding (base64, quoted-printable,
/// 7bit, 8bit) and the charset it declares.</summary>
/// <remarks>The walk, the charset rules and the re-encoding are <see cref="HtmlPartRewriter"/>'s, shared with
/// <see cref="HtmlLinkRewriter"/>.</remarks>
public static class HtmlBeacon
{
    /// <summary>Returns the new body (CRLF), or null when no text/html part with a &lt;/body&gt; was found.</summary>
    public static byte[]? Inject(ReadOnlyMemory<byte> message, MessageHeaders headers, string html)
    {
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(html);
        return HtmlPartRewriter.Rewrite(message, headers, new PixelEditor(html));
    }

    /// <summary>Offset of the last "&lt;/body&gt;" (any case, WSP allowed before '&gt;'), or -1.</summary>
    internal static int FindLastBodyClose(ReadOnlySpan<byte> html)
    {
        var limit = html.Length;
        // Every round lowers limit.
        while (limit > 0)
        {
            var index = html[..limit].LastIndexOf("</"u8);
            if (index < 0)
            {
                return -1;
            }
            var k = index + 2;
            if (k + 4 <= html.Length && Ascii.EqualsIgnoreCase(html.Slice(k, 4), "body"u8))
            {
                k += 4;
                while (k < html.Length && html[k] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
                {
                    k++;
                }
                if (k < html.Length && html[k] == (byte)'>')
                {
                    return index;
                }
            }
            limit = index;
        }
        return -1;
    }

    /// <summary>Puts the HTML before the part's last &lt;/body&gt;; a part without one (or with it at the very
    /// start, where there is no body to show a pixel in) is left alone.</summary>
    internal sealed class PixelEditor(string html) : IPartContentEditor
    {
        private byte[]? _utf8;
        private byte[]? _ascii;

        public void Edit(ReadOnlySpan<byte> content, PartInfo part, List<ContentEdit> edits)
        {
            if (Find(content, part.Utf8Allowed) is { } edit)
            {
                edits.Add(edit);
            }
        }

        /// <summary>The insertion for this part, or null; for an editor that merges it with its own edits.</summary>
        public ContentEdit? Find(ReadOnlySpan<byte> content, bool utf8Allowed)
        {
            var position = FindLastBodyClose(content);
            if (position <= 0)
            {
                return null;
            }
            var bytes = utf8Allowed ? _utf8 ??= HtmlPartText.ToBytes(html, utf8: true, escapeMarkup: false)
                : _ascii ??= HtmlPartText.ToBytes(html, utf8: false, escapeMarkup: false);
            return new ContentEdit(position, position, bytes, MayBreakBefore: true);
        }
    }
}

/// <summary>RFC 2045 §6.7/§6.8 transfer encodings on bytes.</summary>
public static class TransferEncodings
{
    /// <summary>Input bytes per base64 line: 57 bytes make the 76 characters RFC 2045 allows.</summary>
    private const int Base64LineInput = 57;

    /// <summary>RFC 2045 §6.8 decoding: characters outside the alphabet (line breaks, junk) are ignored, decoding
    /// stops at '=' padding, and a missing padding is tolerated.</summary>
    public static byte[] DecodeBase64(ReadOnlySpan<byte> encoded)
    {
        var rented = ArrayPool<byte>.Shared.Rent(encoded.Length + 4);
        try
        {
            var length = 0;
            foreach (var b in encoded)
            {
                if (b == (byte)'=')
                {
                    break;
                }
                if (b is (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'a' and <= (byte)'z') or (>= (byte)'0' and <= (byte)'9') or (byte)'+' or (byte)'/')
                {
                    rented[length++] = b;
                }
            }
            if (length % 4 == 1)
            {
                length--; // a lone sextet carries no whole byte
            }
            while (length % 4 != 0)
            {
                rented[length++] = (byte)'=';
            }
            var decoded = new byte[length / 4 * 3];
            Base64.DecodeFromUtf8(rented.AsSpan(0, length), decoded, out _, out var written);
            return written == decoded.Length ? decoded : decoded[..written];
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Base64 in lines of 76 characters separated by CRLF, without a line break after the last line.</summary>
    public static byte[] EncodeBase64Lines(ReadOnlySpan<byte> data)
    {
        var lines = (data.Length + Base64LineInput - 1) / Base64LineInput;
        var output = new byte[(data.Length + 2) / 3 * 4 + Math.Max(0, lines - 1) * 2];
        var written = 0;
        for (var offset = 0; offset < data.Length; offset += Base64LineInput)
        {
            if (offset > 0)
            {
                output[written++] = (byte)'\r';
                output[written++] = (byte)'\n';
            }
            var chunk = data.Slice(offset, Math.Min(Base64LineInput, data.Length - offset));
            Base64.EncodeToUtf8(chunk, output.AsSpan(written), out _, out var count);
            written += count;
        }
        return output;
    }

    /// <summary>RFC 2045 §6.7 decoding: soft line breaks removed (also with transport padding before them),
    /// trailing whitespace of lines dropped, hard line breaks written as CRLF, a malformed '=' kept literally.</summary>
    public static byte[] DecodeQuotedPrintable(ReadOnlySpan<byte> encoded)
    {
        var output = new byte[encoded.Length * 2];
        var written = 0;
        var i = 0;
        // Every round consumes at least one byte.
        while (i < encoded.Length)
        {
            var b = encoded[i];
            if (b == (byte)'=')
            {
                var k = i + 1;
                while (k < encoded.Length && encoded[k] is (byte)' ' or (byte)'\t')
                {
                    k++;
                }
                if (k == encoded.Length)
                {
                    break;
                }
                if (encoded[k] == (byte)'\n')
                {
                    i = k + 1;
                    continue;
                }
                if (encoded[k] == (byte)'\r' && k + 1 < encoded.Length && encoded[k + 1] == (byte)'\n')
                {
                    i = k + 2;
                    continue;
                }
                if (i + 2 < encoded.Length && HexDigit.TryParse(encoded[i + 1], encoded[i + 2], out var value))
                {
                    output[written++] = value;
                    i += 3;
                    continue;
                }
                output[written++] = b;
                i++;
            }
            else if (b is (byte)' ' or (byte)'\t')
            {
                var k = i;
                while (k < encoded.Length && encoded[k] is (byte)' ' or (byte)'\t')
                {
                    k++;
                }
                if (!IsLineEnd(encoded, k))
                {
                    encoded[i..k].CopyTo(output.AsSpan(written));
                    written += k - i;
                }
                i = k;
            }
            else if (b == (byte)'\n' || (b == (byte)'\r' && i + 1 < encoded.Length && encoded[i + 1] == (byte)'\n'))
            {
                output[written++] = (byte)'\r';
                output[written++] = (byte)'\n';
                i += b == (byte)'\r' ? 2 : 1;
            }
            else
            {
                output[written++] = b;
                i++;
            }
        }
        return output[..written];
    }

    /// <summary>RFC 2045 §6.7 encoding: CRLF (or LF) in the data is a hard line break; lines are at most 76
    /// characters including the '=' of a soft line break; WSP before a line end is encoded.</summary>
    public static byte[] EncodeQuotedPrintable(ReadOnlySpan<byte> data)
    {
        // At most 6 output bytes per input byte: "=\r\n" plus "=XX".
        var rented = ArrayPool<byte>.Shared.Rent(data.Length * 6 + 8);
        try
        {
            var written = 0;
            var column = 0;
            for (var i = 0; i < data.Length; i++)
            {
                var b = data[i];
                if (b == (byte)'\n' || (b == (byte)'\r' && i + 1 < data.Length && data[i + 1] == (byte)'\n'))
                {
                    rented[written++] = (byte)'\r';
                    rented[written++] = (byte)'\n';
                    column = 0;
                    if (b == (byte)'\r')
                    {
                        i++;
                    }
                    continue;
                }
                var literal = (b is >= 33 and <= 126 && b != (byte)'=') || (b is (byte)' ' or (byte)'\t' && !IsLineEnd(data, i + 1));
                var width = literal ? 1 : 3;
                if (column + width > 75)
                {
                    rented[written++] = (byte)'=';
                    rented[written++] = (byte)'\r';
                    rented[written++] = (byte)'\n';
                    column = 0;
                }
                if (literal)
                {
                    rented[written++] = b;
                }
                else
                {
                    rented[written++] = (byte)'=';
                    rented[written++] = (byte)"0123456789ABCDEF"[b >> 4];
                    rented[written++] = (byte)"0123456789ABCDEF"[b & 0xF];
                }
                column += width;
            }
            return rented.AsSpan(0, written).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static bool IsLineEnd(ReadOnlySpan<byte> data, int index) =>
        index >= data.Length || data[index] == (byte)'\n'
        || (data[index] == (byte)'\r' && index + 1 < data.Length && data[index + 1] == (byte)'\n');
}
