using System.Text;

namespace ManycoreMail.Mime;

/// <summary>What an editor needs to know about the text part it edits.</summary>
/// <param name="Charset">The charset parameter as declared (null when absent); always ASCII-compatible here.</param>
/// <param name="Utf8Allowed">True when new text may be written as raw UTF-8 bytes: the charset is UTF-8 and the
/// part is not 7bit. Otherwise anything outside ASCII must become a numeric character reference.</param>
internal readonly record struct PartInfo(string? Charset, bool Utf8Allowed);

/// <summary>One replacement in the decoded content of a part: bytes [Start, End) become Replacement.</summary>
/// <param name="MayBreakBefore">True when a line break may be inserted at Start without changing what the HTML
/// means (before an attribute name, between elements): used to keep 7bit/8bit lines within 998 characters. An
/// edit that may not break and would push its line past that limit is dropped instead.</param>
internal readonly record struct ContentEdit(int Start, int End, byte[] Replacement, bool MayBreakBefore);

/// <summary>Decides the edits of one part's decoded content. Edits are added in ascending order and never
/// overlap.</summary>
internal interface IPartContentEditor
{
    void Edit(ReadOnlySpan<byte> content, PartInfo part, List<ContentEdit> edits);
}

/// <summary>The rewrite shared by the pixel and the link rewriting: on <see cref="MimeWalker"/>'s walk, finds every text/html part (and, when asked, every
/// text/plain part) at any multipart depth, hands its decoded content to an <see cref="IPartContentEditor"/>, and writes the edits back in the part's own
/// Content-Transfer-Encoding (base64, quoted-printable, 7bit, 8bit) and charset.</summary>
/// <remarks>
/// Only the content of the parts that change is rewritten; every other byte (headers, preamble, other parts,
/// boundaries) is copied as it is (line ends normalised to CRLF). The charset step works on the encoded bytes:
/// in the ASCII-compatible charsets accepted here (UTF-8, US-ASCII, ISO-8859-x, windows-125x, KOI8) a byte below
/// 0x80 is always that ASCII character, so markup is found and edited without a lossy decode/encode round trip of
/// the author's text. Other charsets (UTF-16, ISO-2022-JP, unknown) are left alone. Attachments
/// (Content-Disposition: attachment) are not rendered as the message body and are left alone too.
/// </remarks>
internal sealed class HtmlPartRewriter
{
    /// <summary>RFC 5322 §2.1.1: a line must not exceed 998 characters (without CRLF).</summary>
    private const int MaxLineLength = 998;

    private readonly ReadOnlyMemory<byte> _message;
    private readonly IPartContentEditor _htmlEditor;
    private readonly IPartContentEditor? _plainEditor;
    private readonly List<Edit> _edits = [];
    private readonly List<ContentEdit> _partEdits = [];

    private HtmlPartRewriter(ReadOnlyMemory<byte> message, IPartContentEditor htmlEditor, IPartContentEditor? plainEditor)
    {
        _message = message;
        _htmlEditor = htmlEditor;
        _plainEditor = plainEditor;
    }

    /// <summary>Returns the new body (CRLF), or null when the editors changed nothing in any part.</summary>
    /// <param name="plainEditor">When not null, edits the text/plain parts too.</param>
    public static byte[]? Rewrite(ReadOnlyMemory<byte> message, MessageHeaders headers, IPartContentEditor htmlEditor, IPartContentEditor? plainEditor = null)
    {
        ArgumentNullException.ThrowIfNull(headers);
        var bodyStart = Math.Min(headers.BodyOffset, message.Length);
        var rewriter = new HtmlPartRewriter(message, htmlEditor, plainEditor);
        MimeWalker.Walk(message, headers, rewriter.Visit);
        return rewriter._edits.Count == 0 ? null : rewriter.Assemble(bodyStart);
    }

    private readonly record struct Edit(int Start, int End, byte[] Replacement);

    private void Visit(MimeWalkPart part)
    {
        if (part.IsAttachment)
        {
            return;
        }
        if (part.ContentType is not { } contentType)
        {
            // RFC 2045 §5.2 / RFC 2046 §5.1.5: the default is text/plain, message/rfc822 in a digest.
            if (_plainEditor is not null && !part.InDigest)
            {
                RewriteContent(_plainEditor, part);
            }
            return;
        }
        if (contentType.Is("text", "html"))
        {
            RewriteContent(_htmlEditor, part);
        }
        else if (_plainEditor is not null && contentType.Is("text", "plain"))
        {
            RewriteContent(_plainEditor, part);
        }
    }

    private byte[] Assemble(int bodyStart)
    {
        var span = _message.Span;
        var length = 0;
        var position = bodyStart;
        foreach (var edit in _edits)
        {
            length += LineEndings.NormalizedLength(span[position..edit.Start]) + LineEndings.NormalizedLength(edit.Replacement);
            position = edit.End;
        }
        length += LineEndings.NormalizedLength(span[position..]);

        var output = new byte[length];
        var written = 0;
        position = bodyStart;
        foreach (var edit in _edits)
        {
            written += LineEndings.CopyNormalized(span[position..edit.Start], output.AsSpan(written));
            written += LineEndings.CopyNormalized(edit.Replacement, output.AsSpan(written));
            position = edit.End;
        }
        LineEndings.CopyNormalized(span[position..], output.AsSpan(written));
        return output;
    }

    private void RewriteContent(IPartContentEditor editor, MimeWalkPart part)
    {
        var charset = part.Charset;
        var bodyStart = part.BodyStart;
        if (!MimeCharsets.IsAsciiCompatible(charset, out var isUtf8))
        {
            return;
        }
        var encoding = part.TransferEncoding;
        var content = _message.Span[bodyStart..part.BodyEnd];
        _partEdits.Clear();
        switch (encoding)
        {
            case "7bit" or "8bit" or "binary" or "":
            {
                editor.Edit(content, new PartInfo(charset, isUtf8 && encoding != "7bit"), _partEdits);
                CheckOrder(_partEdits, content.Length);
                AddInPlace(content, bodyStart);
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
                editor.Edit(decoded, new PartInfo(charset, isUtf8), _partEdits);
                CheckOrder(_partEdits, decoded.Length);
                if (_partEdits.Count == 0)
                {
                    return;
                }
                var combined = Apply(decoded, _partEdits);
                var reencoded = isBase64 ? TransferEncodings.EncodeBase64Lines(combined)
                    : TransferEncodings.EncodeQuotedPrintable(combined);
                _edits.Add(new Edit(bodyStart, bodyStart + encodedLength, reencoded));
                return;
            }
            default:
                return; // x-uuencode and friends: not ours to touch
        }
    }

    /// <summary>Edits of a 7bit/8bit part go straight into the message. A line the edits would push past 998
    /// characters gets a line break before each of its breakable edits: the encoding cannot fold it for us.</summary>
    private void AddInPlace(ReadOnlySpan<byte> content, int bodyStart)
    {
        var i = 0;
        while (i < _partEdits.Count)
        {
            var start = _partEdits[i].Start;
            var lineStart = content[..start].LastIndexOf((byte)'\n') + 1;
            var lineEnd = content[start..].IndexOf((byte)'\n');
            lineEnd = lineEnd < 0 ? content.Length : start + lineEnd;
            var lineLength = lineEnd - lineStart;
            var last = i;
            var growth = 0;
            // The edits starting on this line (up to and including its '\n'); each line is scanned once.
            while (last < _partEdits.Count && _partEdits[last].Start <= lineEnd)
            {
                growth += _partEdits[last].Replacement.Length - (_partEdits[last].End - _partEdits[last].Start);
                last++;
            }
            var tooLong = lineLength + growth > MaxLineLength;
            for (; i < last; i++)
            {
                var edit = _partEdits[i];
                if (tooLong && !edit.MayBreakBefore)
                {
                    continue; // a bare URL in text cannot move to a line of its own without showing it
                }
                var replacement = tooLong && edit.MayBreakBefore ? [(byte)'\r', (byte)'\n', .. edit.Replacement] : edit.Replacement;
                _edits.Add(new Edit(bodyStart + edit.Start, bodyStart + edit.End, replacement));
            }
        }
    }

    private static byte[] Apply(ReadOnlySpan<byte> content, List<ContentEdit> edits)
    {
        var length = content.Length;
        foreach (var edit in edits)
        {
            length += edit.Replacement.Length - (edit.End - edit.Start);
        }
        var output = new byte[length];
        var written = 0;
        var position = 0;
        foreach (var edit in edits)
        {
            content[position..edit.Start].CopyTo(output.AsSpan(written));
            written += edit.Start - position;
            edit.Replacement.CopyTo(output, written);
            written += edit.Replacement.Length;
            position = edit.End;
        }
        content[position..].CopyTo(output.AsSpan(written));
        return output;
    }

    /// <summary>An editor that broke its contract would corrupt the message silently; fail loudly instead.</summary>
    private static void CheckOrder(List<ContentEdit> edits, int length)
    {
        var position = 0;
        foreach (var edit in edits)
        {
            if (edit.Start < position || edit.End < edit.Start || edit.End > length)
            {
                throw new InvalidOperationException("HTML edits must be in ascending order, non-overlapping and within the part.");
            }
            position = edit.End;
        }
    }
}

/// <summary>Text written into an HTML part in a form every ASCII-compatible charset reads the same way.</summary>
internal static class HtmlPartText
{
    /// <summary>The text as bytes: UTF-8 where the part allows it, otherwise ASCII with numeric character
    /// references for anything else. With <paramref name="escapeMarkup"/> the characters that end or confuse a
    /// double-quoted attribute value (&amp; " &lt; &gt;) become references too.</summary>
    public static byte[] ToBytes(string text, bool utf8, bool escapeMarkup)
    {
        var builder = new StringBuilder(text.Length + 16);
        foreach (var rune in text.EnumerateRunes())
        {
            switch (rune.Value)
            {
                case '&' when escapeMarkup:
                    builder.Append("&amp;");
                    break;
                case '"' when escapeMarkup:
                    builder.Append("&quot;");
                    break;
                case '<' when escapeMarkup:
                    builder.Append("&lt;");
                    break;
                case '>' when escapeMarkup:
                    builder.Append("&gt;");
                    break;
                default:
                    if (rune.IsAscii || utf8)
                    {
                        builder.Append(rune.ToString());
                    }
                    else
                    {
                        builder.Append("&#").Append(rune.Value).Append(';');
                    }
                    break;
            }
        }
        return Encoding.UTF8.GetBytes(builder.ToString());
    }
}
