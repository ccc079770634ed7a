using System.Buffers;
using System.Text;
using ManycoreMail.Mime;

namespace ManycoreMail.Classification;

/// <summary>One header field of a <see cref="ReportEntity"/>, unfolded, encoded words decoded.</summary>
internal readonly record struct ReportField(string Name, string Value);

/// <summary>
/// A MIME entity parsed leniently for classification. Bounces are written by every kind of broken software
/// (mbox "From " lines, bare LF, headers without the blank line, wrong charsets), so nothing here ever
/// fails: a line that is not a header ends the header block, an unknown charset falls back as
/// <see cref="MimeCharsets.Decode"/> says, and a multipart whose boundary never appears is treated as one text body.
/// Depth and part counts are bounded so a hostile message cannot make the parse expensive.
/// Memory is bounded too: every entity's body is a slice of the message it was parsed from (or of the decoded
/// content of an enclosing base64/quoted-printable message/rfc822), and it becomes text only when
/// <see cref="Body"/> is read, so a returned original with a large attachment costs its bytes once, not once per level.
/// An entity belongs to one classification: it is not shared between threads.
/// </summary>
internal sealed class ReportEntity
{
    public const int MaxDepth = 12;
    public const int MaxParts = 256;

    private static ReadOnlySpan<byte> LineSpace => " \t\r\n\v\f"u8;

    private readonly ReadOnlyMemory<byte> _content;
    private readonly BodyForm _form;
    private string? _body;

    private ReportEntity(List<ReportField> fields, ContentType contentType, ReadOnlyMemory<byte> content, BodyForm form, IReadOnlyList<ReportEntity> children)
    {
        Fields = fields;
        ContentType = contentType;
        _content = content;
        _form = form;
        Children = children;
    }

    /// <summary>What <see cref="Body"/> makes of the bytes an entity holds.</summary>
    private enum BodyForm
    {
        /// <summary>Raw bytes as Latin-1: a container, or a part past the depth or part bound.</summary>
        Raw,
        /// <summary>Bytes still to be transfer-decoded by the entity's Content-Transfer-Encoding, then charset-decoded.</summary>
        Encoded,
        /// <summary>Bytes already transfer-decoded (an enclosed message, decoded once to parse its child).</summary>
        Decoded,
    }

    public IReadOnlyList<ReportField> Fields { get; }
    public ContentType ContentType { get; }

    /// <summary>The decoded body text of a leaf (transfer encoding and charset undone); the raw text of a container.
    /// Made on first read.</summary>
    public string Body => _body ??= MakeBody();

    /// <summary>The parts of a multipart, or the one enclosed message of a message/rfc822 (or headers-only) entity.</summary>
    public IReadOnlyList<ReportEntity> Children { get; }

    public string? Header(string name) => Find(Fields, name);

    public bool Is(string type, string subtype) => ContentType.Is(type, subtype);

    /// <summary>The body read as a header block (message/feedback-report, message/delivery-status).</summary>
    public List<ReportField> ContentFields()
    {
        var content = _form == BodyForm.Encoded ? TransferDecode(_content, Header("Content-Transfer-Encoding")) : _content;
        ReadFields(content.Span.TrimStart("\r\n"u8), out var fields);
        return fields;
    }

    /// <summary>This entity and every descendant, depth first, in document order.</summary>
    public IEnumerable<ReportEntity> Descendants()
    {
        var stack = new Stack<ReportEntity>();
        stack.Push(this);
        while (stack.Count > 0)
        {
            var entity = stack.Pop();
            yield return entity;
            for (var i = entity.Children.Count - 1; i >= 0; i--)
            {
                stack.Push(entity.Children[i]);
            }
        }
    }

    /// <summary>Parses a whole message. The entities keep slices of <paramref name="message"/>, which must not
    /// change while they are in use.</summary>
    public static ReportEntity Parse(ReadOnlyMemory<byte> message) =>
        ParseEntity(message, 0, new PartBudget(), headersOnly: false, defaultType: "text/plain");

    private sealed class PartBudget
    {
        public int Remaining = MaxParts;
    }

    private static ReportEntity ParseEntity(ReadOnlyMemory<byte> data, int depth, PartBudget budget, bool headersOnly, string defaultType)
    {
        budget.Remaining--;
        var bodyStart = ReadFields(data.Span, out var fields);
        var contentType = ContentType.Parse(Find(fields, "Content-Type")) ?? ContentType.Parse(defaultType)!;
        if (headersOnly)
        {
            return new ReportEntity(fields, contentType, ReadOnlyMemory<byte>.Empty, BodyForm.Raw, []);
        }
        var rawBody = data[bodyStart..];
        if (depth >= MaxDepth || budget.Remaining <= 0)
        {
            return new ReportEntity(fields, contentType, rawBody, BodyForm.Raw, []);
        }

        if (contentType.IsMultipart && contentType.GetParameter("boundary") is { Length: > 0 } boundary)
        {
            var childDefault = contentType.MediaSubtype == "digest" ? "message/rfc822" : "text/plain";
            var parts = new List<Range>();
            MimeWalker.Split(rawBody.Span, Encoding.UTF8.GetBytes("--" + boundary), parts, MaxParts);
            if (parts.Count > 0)
            {
                var children = new List<ReportEntity>(parts.Count);
                foreach (var part in parts)
                {
                    if (budget.Remaining <= 0)
                    {
                        break;
                    }
                    children.Add(ParseEntity(rawBody[part], depth + 1, budget, headersOnly: false, childDefault));
                }
                return new ReportEntity(fields, contentType, rawBody, BodyForm.Raw, children);
            }
        }

        if (contentType.MediaType == "message" && contentType.MediaSubtype is "rfc822" or "global" or "rfc822-headers" or "global-headers"
            || contentType.Is("text", "rfc822-headers"))
        {
            var decoded = TransferDecode(rawBody, Find(fields, "Content-Transfer-Encoding"));
            var headers = contentType.MediaSubtype.EndsWith("headers", StringComparison.Ordinal);
            var child = ParseEntity(TrimLeadingLineEnds(decoded), depth + 1, budget, headers, "text/plain");
            return new ReportEntity(fields, contentType, decoded, BodyForm.Decoded, [child]);
        }
        return new ReportEntity(fields, contentType, rawBody, BodyForm.Encoded, []);
    }

    private static string? Find(IReadOnlyList<ReportField> fields, string name)
    {
        foreach (var field in fields)
        {
            if (string.Equals(field.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return field.Value;
            }
        }
        return null;
    }

    /// <summary>Reads a header block; returns where the body starts. An mbox "From " line is skipped.</summary>
    private static int ReadFields(ReadOnlySpan<byte> text, out List<ReportField> fields)
    {
        var found = new List<ReportField>(24);
        fields = found;
        var position = 0;
        if (text.StartsWith("From "u8))
        {
            position = NextLine(text, 0);
        }
        string? name = null;
        var value = new ArrayBufferWriter<byte>(256);
        while (position < text.Length)
        {
            var end = NextLine(text, position);
            var line = text[position..end].TrimEnd("\r\n"u8);
            if (line.IsEmpty)
            {
                position = end;
                break;
            }
            if (line[0] is (byte)' ' or (byte)'\t')
            {
                if (name is null)
                {
                    // A continuation with nothing to continue: not a header block at all.
                    break;
                }
                value.Write(" "u8);
                value.Write(Trim(line));
                position = end;
                continue;
            }
            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !IsFieldName(line[..colon].TrimEnd(LineSpace)))
            {
                // Not a field: the body starts here (some MTAs omit the blank line).
                break;
            }
            Flush();
            name = Encoding.ASCII.GetString(line[..colon].TrimEnd(LineSpace));
            value.Write(Trim(line[(colon + 1)..]));
            position = end;
        }
        Flush();
        return position;

        void Flush()
        {
            if (name is not null)
            {
                found.Add(new ReportField(name, DecodeHeader(value.WrittenSpan)));
            }
            name = null;
            value.ResetWrittenCount();
        }
    }

    private static string DecodeHeader(ReadOnlySpan<byte> raw) =>
        // Raw 8-bit header bytes are most often UTF-8 today.
        EncodedWords.Decode(Ascii.IsValid(raw) ? Encoding.ASCII.GetString(raw) : Encoding.UTF8.GetString(raw));

    private static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> text) => text.Trim(LineSpace);

    private static ReadOnlyMemory<byte> TrimLeadingLineEnds(ReadOnlyMemory<byte> data)
    {
        var skipped = data.Length - data.Span.TrimStart("\r\n"u8).Length;
        return data[skipped..];
    }

    private static bool IsFieldName(ReadOnlySpan<byte> name)
    {
        if (name.IsEmpty || name.Length > 76)
        {
            return false;
        }
        foreach (var c in name)
        {
            if (c is <= (byte)' ' or > (byte)'~')
            {
                return false;
            }
        }
        return true;
    }

    private static int NextLine(ReadOnlySpan<byte> text, int position)
    {
        var lf = text[position..].IndexOf((byte)'\n');
        return lf < 0 ? text.Length : position + lf + 1;
    }

    private static ReadOnlyMemory<byte> TransferDecode(ReadOnlyMemory<byte> raw, string? transferEncoding)
    {
        var encoding = transferEncoding?.Trim();
        if (string.Equals(encoding, "base64", StringComparison.OrdinalIgnoreCase))
        {
            return TransferEncodings.DecodeBase64(raw.Span);
        }
        if (string.Equals(encoding, "quoted-printable", StringComparison.OrdinalIgnoreCase))
        {
            return TransferEncodings.DecodeQuotedPrintable(raw.Span);
        }
        return raw;
    }

    private string MakeBody()
    {
        var content = _form == BodyForm.Encoded ? TransferDecode(_content, Header("Content-Transfer-Encoding")) : _content;
        if (_form != BodyForm.Encoded || ContentType.MediaType is "message")
        {
            // Containers and enclosed messages keep bytes as Latin-1 so that their own parts decode themselves.
            return Encoding.Latin1.GetString(content.Span);
        }
        var charset = ContentType.GetParameter("charset");
        return Ascii.IsValid(content.Span) && MimeCharsets.IsAsciiCompatible(charset, out _)
            ? Encoding.ASCII.GetString(content.Span)
            : MimeCharsets.Decode(content.Span, charset);
    }
}
