using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace ManycoreMail.Mime;

/// <summary>Inserts HTML (a tracking pixel) before the last &lt;/body&gt; of every text/html part, at any
/// multipart depth, decoding and re-encoding the part's Content-Transfer-Encoding (base64, quoted-printable,
/// 7bit, 8bit) and the charset it declares.</summary>
/// <remarks>
/// Only the content of the parts that change is rewritten; every other byte (headers, preamble, other parts,
/// boundaries) is copied as it is (line ends normalised to CRLF). The charset step works on the encoded bytes:
/// in the ASCII-compatible charsets accepted here (UTF-8, US-ASCII, ISO-8859-x, windows-125x, KOI8) a byte below
/// 0x80 is always that ASCII character, so "&lt;/body&gt;" is found and the HTML is inserted without a lossy
/// decode/encode round trip of the author's text. Other charsets (UTF-16, ISO-2022-JP, unknown) are left alone.
/// Attachments (Content-Disposition: attachment) are not rendered as the message body and are left alone too.
/// </remarks>
public static class HtmlBeacon
{
    /// <summary>Multipart nesting deeper than this is not walked (a hostile message must not recurse forever).</summary>
    public const int MaxDepth = 32;

    /// <summary>RFC 5322 §2.1.1: a line must not exceed 998 characters (without CRLF).</summary>
    private const int MaxLineLength = 998;

    /// <summary>Returns the new body (CRLF), or null when no text/html part with a &lt;/body&gt; was found.</summary>
    public static byte[]? Inject(ReadOnlyMemory<byte> message, MessageHeaders headers, string html)
    {
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(html);
        var bodyStart = Math.Min(headers.BodyOffset, message.Length);
        var injection = new Injection(message, html);
        injection.VisitEntity(headers, bodyStart, message.Length, depth: 0);
        return injection.Edits.Count == 0 ? null : injection.Assemble(bodyStart);
    }

    private readonly record struct Edit(int Start, int End, byte[] Replacement);

    private sealed class Injection(ReadOnlyMemory<byte> message, string html)
    {
        private byte[]? _htmlUtf8;
        private byte[]? _htmlAscii;

        public List<Edit> Edits { get; } = [];

        public void VisitEntity(MessageHeaders headers, int bodyStart, int end, int depth)
        {
            var contentType = ContentType.Parse(headers.First("Content-Type"));
            if (contentType is null)
            {
                return; // the default is text/plain (message/rfc822 in a digest): nothing to inject either way
            }
            if (contentType.IsMultipart)
            {
                var boundary = contentType.GetParameter("boundary");
                if (depth >= MaxDepth || string.IsNullOrEmpty(boundary) || boundary.Length > 200 || !Ascii.IsValid(boundary))
                {
                    return;
                }
                var parts = new List<(int Start, int End)>();
                FindParts(message.Span, bodyStart, end, Encoding.ASCII.GetBytes("--" + boundary), parts);
                foreach (var (partStart, partEnd) in parts)
                {
                    if (!MessageHeaders.TryParse(message[partStart..partEnd], out var partHeaders, out _))
                    {
                        continue;
                    }
                    var partBody = Math.Min(partStart + partHeaders.BodyOffset, partEnd);
                    VisitEntity(partHeaders, partBody, partEnd, depth + 1);
                }
                return;
            }
            if (contentType.Is("text", "html") && !IsAttachment(headers))
            {
                InjectIntoHtml(headers, contentType, bodyStart, end);
            }
        }

        public byte[] Assemble(int bodyStart)
        {
            var span = message.Span;
            var length = 0;
            var position = bodyStart;
            foreach (var edit in Edits)
            {
                length += LineEndings.NormalizedLength(span[position..edit.Start]) + LineEndings.NormalizedLength(edit.Replacement);
                position = edit.End;
            }
            length += LineEndings.NormalizedLength(span[position..]);

            var output = new byte[length];
            var written = 0;
            position = bodyStart;
            foreach (var edit in Edits)
            {
                written += LineEndings.CopyNormalized(span[position..edit.Start], output.AsSpan(written));
                written += LineEndings.CopyNormalized(edit.Replacement, output.AsSpan(written));
                position = edit.End;
            }
            LineEndings.CopyNormalized(span[position..], output.AsSpan(written));
            return output;
        }

        private void InjectIntoHtml(MessageHeaders headers, ContentType contentType, int bodyStart, int end)
        {
            if (!MimeCharsets.IsAsciiCompatible(contentType.GetParameter("charset"), out var isUtf8))
            {
                return;
            }
            var encoding = (headers.First("Content-Transfer-Encoding") ?? "7bit").Trim().ToLowerInvariant();
            var content = message.Span[bodyStart..end];
            switch (encoding)
            {
                case "7bit" or "8bit" or "binary" or "":
                {
                    var position = FindLastBodyClose(content);
                    if (position <= 0)
                    {
                        return;
                    }
                    var insert = HtmlBytes(utf8: isUtf8 && encoding != "7bit");
                    if (LineLengthAround(content, position) + insert.Length > MaxLineLength)
                    {
                        insert = [(byte)'\r', (byte)'\n', .. insert];
                    }
                    Edits.Add(new Edit(bodyStart + position, bodyStart + position, insert));
                    return;
                }
                case "base64" or "quoted-printable":
                {
                    // The line break(s) at the end stay where they are; in a multipart the delimiter's own CRLF
                    // is not part of the content anyway.
                    var encodedLength = content.TrimEnd("\r\n"u8).Length;
                    var isBase64 = encoding == "base64";
                    var decoded = isBase64 ? TransferEncodings.DecodeBase64(content[..encodedLength])
                        : TransferEncodings.DecodeQuotedPrintable(content[..encodedLength]);
                    var position = FindLastBodyClose(decoded);
                    if (position <= 0)
                    {
                        return;
                    }
                    var insert = HtmlBytes(utf8: isUtf8);
                    var combined = new byte[decoded.Length + insert.Length];
                    decoded.AsSpan(0, position).CopyTo(combined);
                    insert.CopyTo(combined, position);
                    decoded.AsSpan(position).CopyTo(combined.AsSpan(position + insert.Length));
                    var reencoded = isBase64 ? TransferEncodings.EncodeBase64Lines(combined)
                        : TransferEncodings.EncodeQuotedPrintable(combined);
                    Edits.Add(new Edit(bodyStart, bodyStart + encodedLength, reencoded));
                    return;
                }
                default:
                    return; // x-uuencode and friends: not ours to touch
            }
        }

        /// <summary>The HTML in the part's charset: UTF-8 where it may be, otherwise ASCII with numeric
        /// character references for anything else (valid in every ASCII-compatible charset).</summary>
        private byte[] HtmlBytes(bool utf8)
        {
            if (utf8)
            {
                return _htmlUtf8 ??= Encoding.UTF8.GetBytes(html);
            }
            if (_htmlAscii is null)
            {
                var builder = new StringBuilder(html.Length);
                foreach (var rune in html.EnumerateRunes())
                {
                    if (rune.IsAscii)
                    {
                        builder.Append((char)rune.Value);
                    }
                    else
                    {
                        builder.Append("&#").Append(rune.Value).Append(';');
                    }
                }
                _htmlAscii = Encoding.ASCII.GetBytes(builder.ToString());
            }
            return _htmlAscii;
        }

        private static bool IsAttachment(MessageHeaders headers) =>
            headers.First("Content-Disposition")?.TrimStart().StartsWith("attachment", StringComparison.OrdinalIgnoreCase) == true;
    }

    /// <summary>The encapsulated parts of a multipart body (RFC 2046 §5.1.1): each part runs from after its
    /// delimiter line to before the line break that precedes the next delimiter. Preamble and epilogue are skipped.</summary>
    private static void FindParts(ReadOnlySpan<byte> span, int start, int end, ReadOnlySpan<byte> delimiter, List<(int, int)> parts)
    {
        var partStart = -1;
        var search = start;
        // Every round moves search forward.
        while (search < end)
        {
            var index = span[search..end].IndexOf(delimiter);
            if (index < 0)
            {
                break;
            }
            var position = search + index;
            search = position + 1;
            if (position != start && span[position - 1] != (byte)'\n')
            {
                continue;
            }
            var after = position + delimiter.Length;
            var isClose = after + 1 < end && span[after] == (byte)'-' && span[after + 1] == (byte)'-';
            var k = isClose ? after + 2 : after;
            while (k < end && span[k] is (byte)' ' or (byte)'\t')
            {
                k++; // transport padding
            }
            int next;
            if (k == end)
            {
                next = end;
            }
            else if (span[k] == (byte)'\n')
            {
                next = k + 1;
            }
            else if (span[k] == (byte)'\r' && (k + 1 == end || span[k + 1] == (byte)'\n'))
            {
                next = Math.Min(k + 2, end);
            }
            else
            {
                continue; // "--boundaryX": a longer line, not our delimiter
            }

            if (partStart >= 0)
            {
                var contentEnd = position;
                if (contentEnd > partStart && span[contentEnd - 1] == (byte)'\n')
                {
                    contentEnd--;
                    if (contentEnd > partStart && span[contentEnd - 1] == (byte)'\r')
                    {
                        contentEnd--;
                    }
                }
                parts.Add((partStart, contentEnd));
            }
            if (isClose)
            {
                return;
            }
            partStart = next;
            search = next;
        }
        if (partStart >= 0 && partStart < end)
        {
            parts.Add((partStart, end)); // no close delimiter: the last part runs to the end
        }
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

    private static int LineLengthAround(ReadOnlySpan<byte> content, int position)
    {
        var lineStart = content[..position].LastIndexOf((byte)'\n') + 1;
        var lineEnd = content[position..].IndexOf((byte)'\n');
        return (lineEnd < 0 ? content.Length : position + lineEnd) - lineStart;
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
