using System.Buffers;
using System.Text;

namespace ManycoreMail.Mime;

/// <summary>
/// Builds a new message from an original: remove fields, append new ones (folded at 78 columns), optionally
/// replace the body. The output uses CRLF line ends throughout (what goes on the wire and what is signed).
/// Untouched fields keep their bytes (only line ends normalised).
/// </summary>
/// <remarks>Not thread-safe: one rewriter per message. <see cref="ToArray"/> measures first and then writes once
/// into an array of the exact size.</remarks>
public sealed class MessageRewriter(ReadOnlyMemory<byte> original, MessageHeaders headers)
{
    /// <summary>RFC 5322 §2.1.1: lines SHOULD be no longer than 78 characters.</summary>
    public const int FoldColumn = 78;

    private readonly List<string> _removed = [];
    private readonly List<byte[]> _appended = [];
    private readonly List<string> _appendedNames = [];
    private ReadOnlyMemory<byte>? _body;

    /// <summary>Remove every field with this name (case-insensitive): original fields and fields appended so far.</summary>
    public MessageRewriter Remove(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        _removed.Add(name);
        for (var i = _appendedNames.Count - 1; i >= 0; i--)
        {
            if (string.Equals(_appendedNames[i], name, StringComparison.OrdinalIgnoreCase))
            {
                _appendedNames.RemoveAt(i);
                _appended.RemoveAt(i);
            }
        }
        return this;
    }

    /// <summary>Append a field at the end of the header block; long values are folded at whitespace.
    /// Line breaks inside <paramref name="value"/> are unfolded first, so a value can never inject a field.</summary>
    public MessageRewriter Append(string name, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(value);
        foreach (var c in name)
        {
            if (c is <= ' ' or >= (char)127 or ':')
            {
                throw new ArgumentException($"'{name}' is not a header field name (RFC 5322 ftext).", nameof(name));
            }
        }
        _appendedNames.Add(name);
        _appended.Add(HeaderFolding.Fold(name, value, FoldColumn));
        return this;
    }

    /// <summary>Replace the body (bytes after the empty line) with new bytes (CRLF).</summary>
    public MessageRewriter ReplaceBody(ReadOnlyMemory<byte> body)
    {
        _body = body;
        return this;
    }

    public byte[] ToArray()
    {
        var body = Body();
        var headerLength = HeaderBlockLength();
        // Every byte is written below (asserted); zeroing a large body first would be pure cost.
        var output = GC.AllocateUninitializedArray<byte>(headerLength + LineEndings.NormalizedLength(body));
        var written = WriteHeaderBlock(output);
        written += LineEndings.CopyNormalized(body, output.AsSpan(written));
        System.Diagnostics.Debug.Assert(written == output.Length);
        return output;
    }

    /// <summary>
    /// The rewritten header block alone (ending with the empty line), when the rest of the message is the
    /// original's bytes from <paramref name="bodyOffset"/> on: the body was not replaced and needs no line-end
    /// repair. Lets a caller keep the body where it is instead of copying it.
    /// </summary>
    public bool TryGetHeaderBlock([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? headerBlock, out int bodyOffset)
    {
        bodyOffset = OriginalBodyOffset;
        if (_body.HasValue || LineEndings.NormalizedLength(original.Span[bodyOffset..]) != original.Length - bodyOffset)
        {
            headerBlock = null;
            return false;
        }
        headerBlock = GC.AllocateUninitializedArray<byte>(HeaderBlockLength());
        var written = WriteHeaderBlock(headerBlock);
        System.Diagnostics.Debug.Assert(written == headerBlock.Length);
        return true;
    }

    // A message without an empty line has no body; its offset is then its length.
    private int OriginalBodyOffset => Math.Min(headers.BodyOffset, original.Length);

    private ReadOnlySpan<byte> Body() => _body.HasValue ? _body.Value.Span : original.Span[OriginalBodyOffset..];

    private int HeaderBlockLength()
    {
        var length = 2;
        foreach (var field in headers.Fields)
        {
            if (!IsRemoved(field.Name))
            {
                length += FieldLength(field.Raw.Span);
            }
        }
        foreach (var appended in _appended)
        {
            length += appended.Length;
        }
        return length;
    }

    private int WriteHeaderBlock(Span<byte> output)
    {
        var written = 0;
        foreach (var field in headers.Fields)
        {
            if (!IsRemoved(field.Name))
            {
                written += WriteField(field.Raw.Span, output[written..]);
            }
        }
        foreach (var appended in _appended)
        {
            appended.CopyTo(output[written..]);
            written += appended.Length;
        }
        output[written++] = (byte)'\r';
        output[written++] = (byte)'\n';
        return written;
    }

    private bool IsRemoved(string name)
    {
        foreach (var removed in _removed)
        {
            if (string.Equals(removed, name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    // The last field of a message without a body may end without a line end; it gets one.
    private static int FieldLength(ReadOnlySpan<byte> raw) =>
        LineEndings.NormalizedLength(raw) + (EndsWithLineEnd(raw) ? 0 : 2);

    private static int WriteField(ReadOnlySpan<byte> raw, Span<byte> destination)
    {
        var written = LineEndings.CopyNormalized(raw, destination);
        if (!EndsWithLineEnd(raw))
        {
            destination[written++] = (byte)'\r';
            destination[written++] = (byte)'\n';
        }
        return written;
    }

    private static bool EndsWithLineEnd(ReadOnlySpan<byte> raw) => raw.Length > 0 && raw[^1] is (byte)'\n' or (byte)'\r';
}

/// <summary>Writes "Name: value CRLF" folded at whitespace (RFC 5322 §2.2.3).</summary>
public static class HeaderFolding
{
    /// <summary>The field as UTF-8 bytes ending in CRLF. A fold replaces nothing: the CRLF goes before an existing
    /// run of WSP, so unfolding gives back the value exactly. A word longer than a line stays whole.</summary>
    public static byte[] Fold(string name, string value, int column = MessageRewriter.FoldColumn)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        var text = Unfold(value).AsSpan().Trim(" \t");

        // Written as UTF-8 straight into a pooled buffer (every message gets several folded fields): a char is at
        // most 3 bytes, and each fold adds 2 bytes before a run of whitespace, which is at least 1 char.
        var rented = ArrayPool<byte>.Shared.Rent(3 * (name.Length + text.Length) + 2 * text.Length + 8);
        try
        {
            var output = rented.AsSpan();
            var written = Encoding.UTF8.GetBytes(name, output);
            output[written++] = (byte)':';
            var lineLength = written;
            var first = true;
            var i = 0;
            // Each round consumes one run of whitespace and the word after it.
            while (i < text.Length)
            {
                var wsStart = i;
                while (i < text.Length && text[i] is ' ' or '\t')
                {
                    i++;
                }
                var wordStart = i;
                while (i < text.Length && text[i] is not (' ' or '\t'))
                {
                    i++;
                }
                var whitespace = first ? " " : text[wsStart..wordStart];
                var word = text[wordStart..i];
                var wordBytes = Encoding.UTF8.GetByteCount(word);
                if (!first && lineLength + whitespace.Length + wordBytes > column)
                {
                    output[written++] = (byte)'\r';
                    output[written++] = (byte)'\n';
                    lineLength = 0;
                }
                // Whitespace is ASCII: one byte per char.
                written += Encoding.ASCII.GetBytes(whitespace, output[written..]);
                written += Encoding.UTF8.GetBytes(word, output[written..]);
                lineLength += whitespace.Length + wordBytes;
                first = false;
            }
            output[written++] = (byte)'\r';
            output[written++] = (byte)'\n';
            return output[..written].ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Line breaks in a caller's value: a break before WSP is a fold and disappears, any other becomes a space.</summary>
    private static string Unfold(string value)
    {
        if (value.AsSpan().IndexOfAny('\r', '\n') < 0)
        {
            return value;
        }
        var builder = new StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c is '\r' or '\n')
            {
                var next = i + 1;
                while (next < value.Length && value[next] is '\r' or '\n')
                {
                    next++;
                }
                if (next < value.Length && value[next] is not (' ' or '\t'))
                {
                    builder.Append(' ');
                }
                i = next - 1;
                continue;
            }
            builder.Append(c);
        }
        return builder.ToString();
    }
}
