using System.Text;
using ManycoreMail.Mime;

namespace ManycoreMail.Classification;

/// <summary>One header field of a <see cref="ReportEntity"/>, unfolded, encoded words decoded.</summary>
internal readonly record struct ReportField(string Name, string Value);

/// <summary>
/// A MIME entity parsed leniently for classification. Bounces are written by every kind of broken software
/// (mbox "From " lines, bare LF, headers without the blank line, wrong charsets), so nothing here ever
/// fails: a line that is not a header ends the header block, an unknown charset falls back to Latin-1, and a
/// multipart whose boundary never appears is treated as one text body. Depth and part counts are bounded so
/// a hostile message cannot make the parse expensive.
/// </summary>
internal sealed class ReportEntity
{
    public const int MaxDepth = 12;
    public const int MaxParts = 256;

    private ReportEntity(IReadOnlyList<ReportField> fields, ContentType contentType, string body, IReadOnlyList<ReportEntity> children)
    {
        Fields = fields;
        ContentType = contentType;
        Body = body;
        Children = children;
    }

    public IReadOnlyList<ReportField> Fields { get; }
    public ContentType ContentType { get; }

    /// <summary>The decoded body text of a leaf (transfer encoding and charset undone); the raw text of a container.</summary>
    public string Body { get; }

    /// <summary>The parts of a multipart, or the one enclosed message of a message/rfc822 (or headers-only) entity.</summary>
    public IReadOnlyList<ReportEntity> Children { get; }

    public string? Header(string name)
    {
        foreach (var field in Fields)
        {
            if (string.Equals(field.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return field.Value;
            }
        }
        return null;
    }

    public bool Is(string type, string subtype) => ContentType.Is(type, subtype);

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

    /// <summary>Parses a whole message. The bytes are read as Latin-1 so that every byte survives until a
    /// part's own charset is known.</summary>
    public static ReportEntity Parse(ReadOnlySpan<byte> message)
    {
        var text = Encoding.Latin1.GetString(message);
        var budget = new PartBudget();
        return ParseEntity(text, 0, budget, headersOnly: false, defaultType: "text/plain");
    }

    private sealed class PartBudget
    {
        public int Remaining = MaxParts;
    }

    private static ReportEntity ParseEntity(string text, int depth, PartBudget budget, bool headersOnly, string defaultType)
    {
        budget.Remaining--;
        var bodyStart = ReadFields(text, out var fields);
        var contentType = ContentType.Parse(Find(fields, "Content-Type")) ?? ContentType.Parse(defaultType)!;
        if (headersOnly)
        {
            return new ReportEntity(fields, contentType, "", []);
        }
        var rawBody = text[bodyStart..];
        if (depth >= MaxDepth || budget.Remaining <= 0)
        {
            return new ReportEntity(fields, contentType, rawBody, []);
        }

        if (contentType.IsMultipart && contentType.GetParameter("boundary") is { Length: > 0 } boundary)
        {
            var childDefault = contentType.MediaSubtype == "digest" ? "message/rfc822" : "text/plain";
            var parts = SplitMultipart(rawBody, boundary);
            if (parts.Count > 0)
            {
                var children = new List<ReportEntity>(parts.Count);
                foreach (var part in parts)
                {
                    if (budget.Remaining <= 0)
                    {
                        break;
                    }
                    children.Add(ParseEntity(part, depth + 1, budget, headersOnly: false, childDefault));
                }
                return new ReportEntity(fields, contentType, rawBody, children);
            }
        }

        var decoded = DecodeBody(rawBody, Find(fields, "Content-Transfer-Encoding"), contentType);
        if (contentType.MediaType == "message" && contentType.MediaSubtype is "rfc822" or "global" or "rfc822-headers" or "global-headers"
            || contentType.Is("text", "rfc822-headers"))
        {
            var headers = contentType.MediaSubtype.EndsWith("headers", StringComparison.Ordinal);
            var child = ParseEntity(decoded.TrimStart('\r', '\n'), depth + 1, budget, headers, "text/plain");
            return new ReportEntity(fields, contentType, decoded, [child]);
        }
        return new ReportEntity(fields, contentType, decoded, []);
    }

    private static string? Find(List<ReportField> fields, string name)
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
    internal static int ReadFields(string text, out List<ReportField> fields)
    {
        var found = new List<ReportField>(24);
        fields = found;
        var position = 0;
        if (text.StartsWith("From ", StringComparison.Ordinal))
        {
            position = NextLine(text, 0);
        }
        string? name = null;
        var value = new StringBuilder();
        while (position < text.Length)
        {
            var end = NextLine(text, position);
            var line = text.AsSpan(position, end - position).TrimEnd("\r\n");
            if (line.IsEmpty)
            {
                position = end;
                break;
            }
            if (line[0] is ' ' or '\t')
            {
                if (name is null)
                {
                    // A continuation with nothing to continue: not a header block at all.
                    break;
                }
                value.Append(' ').Append(line.Trim());
                position = end;
                continue;
            }
            var colon = line.IndexOf(':');
            if (colon <= 0 || !IsFieldName(line[..colon].TrimEnd()))
            {
                // Not a field: the body starts here (some MTAs omit the blank line).
                break;
            }
            Flush();
            name = line[..colon].TrimEnd().ToString();
            value.Append(line[(colon + 1)..].Trim());
            position = end;
        }
        Flush();
        return position;

        void Flush()
        {
            if (name is not null)
            {
                var raw = value.ToString();
                found.Add(new ReportField(name, DecodeHeader(raw)));
            }
            name = null;
            value.Clear();
        }
    }

    private static string DecodeHeader(string latin1)
    {
        // Raw 8-bit header bytes are most often UTF-8 today.
        var text = latin1;
        if (!Ascii.IsValid(latin1))
        {
            var bytes = Encoding.Latin1.GetBytes(latin1);
            text = Encoding.UTF8.GetString(bytes);
        }
        return EncodedWords.Decode(text);
    }

    private static bool IsFieldName(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty || name.Length > 76)
        {
            return false;
        }
        foreach (var c in name)
        {
            if (c is <= ' ' or > '~')
            {
                return false;
            }
        }
        return true;
    }

    private static int NextLine(string text, int position)
    {
        var lf = text.IndexOf('\n', position);
        return lf < 0 ? text.Length : lf + 1;
    }

    private static List<string> SplitMultipart(string body, string boundary)
    {
        var parts = new List<string>();
        var delimiter = "--" + boundary;
        var position = 0;
        var partStart = -1;
        while (position < body.Length && parts.Count < MaxParts)
        {
            var end = NextLine(body, position);
            var line = body.AsSpan(position, end - position).TrimEnd();
            if (line.StartsWith(delimiter, StringComparison.Ordinal))
            {
                var rest = line[delimiter.Length..];
                var closing = rest.StartsWith("--", StringComparison.Ordinal);
                if (rest.IsEmpty || closing || rest.IsWhiteSpace())
                {
                    if (partStart >= 0)
                    {
                        parts.Add(body[partStart..TrimLastLineEnd(body, position)]);
                    }
                    partStart = closing ? -1 : end;
                    if (closing)
                    {
                        return parts;
                    }
                }
            }
            position = end;
        }
        if (partStart >= 0 && partStart < body.Length)
        {
            // No closing delimiter (a truncated bounce): keep what there is.
            parts.Add(body[partStart..]);
        }
        return parts;
    }

    private static int TrimLastLineEnd(string body, int position)
    {
        // The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
        if (position > 0 && body[position - 1] == '\n')
        {
            position--;
            if (position > 0 && body[position - 1] == '\r')
            {
                position--;
            }
        }
        return position;
    }

    private static string DecodeBody(string latin1, string? transferEncoding, ContentType contentType)
    {
        var encoding = transferEncoding?.Trim().ToLowerInvariant();
        byte[] bytes;
        if (encoding == "base64")
        {
            bytes = TransferEncodings.DecodeBase64(Encoding.Latin1.GetBytes(latin1));
        }
        else if (encoding == "quoted-printable")
        {
            bytes = TransferEncodings.DecodeQuotedPrintable(Encoding.Latin1.GetBytes(latin1));
        }
        else if (Ascii.IsValid(latin1))
        {
            return latin1;
        }
        else
        {
            bytes = Encoding.Latin1.GetBytes(latin1);
        }
        var charset = contentType.GetParameter("charset");
        if (contentType.MediaType is "message" || !MimeCharsets.TryGetEncoding(charset, out var decoder))
        {
            // Enclosed messages keep bytes as Latin-1 so their own parts decode themselves; unknown charsets
            // are tried as UTF-8 first because that is what unlabelled 8-bit text mostly is.
            if (contentType.MediaType is "message")
            {
                return Encoding.Latin1.GetString(bytes);
            }
            decoder = LooksLikeUtf8(bytes) ? Encoding.UTF8 : Encoding.Latin1;
        }
        return decoder.GetString(bytes);
    }

    private static bool LooksLikeUtf8(byte[] bytes)
    {
        try
        {
            _ = new UTF8Encoding(false, throwOnInvalidBytes: true).GetCharCount(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }
}
