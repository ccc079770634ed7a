using System.Buffers;

namespace ManycoreMail.Mime;

/// <summary>Where one header field lies in a message: all offsets are from the start of the message.</summary>
/// <param name="Start">First byte of the field name.</param>
/// <param name="NameLength">Length of the field name (without any WSP before the colon).</param>
/// <param name="ValueStart">First byte after the colon.</param>
/// <param name="End">First byte after the field's last line end (or the end of the message).</param>
public readonly record struct HeaderFieldRange(int Start, int NameLength, int ValueStart, int End)
{
    public int Length => End - Start;
}

/// <summary>What <see cref="HeaderBlockReader.Read"/> found.</summary>
public enum HeaderReadStatus
{
    /// <summary>A header field (with all its continuation lines).</summary>
    Field,
    /// <summary>The empty line (or the end of the message); <see cref="HeaderBlockReader.BodyOffset"/> is set.</summary>
    End,
    /// <summary>A line that is not a header field; <see cref="HeaderBlockReader.Error"/> says which and why.</summary>
    Error,
}

/// <summary>
/// Walks the header block of an RFC 5322 message field by field without allocating. It is the single
/// header tokenizer of the project: <see cref="MessageHeaders"/> builds on it, and the DKIM signer uses it to
/// find the raw bytes it canonicalises. Accepts LF, CRLF, or a mix of both.
/// </summary>
public ref struct HeaderBlockReader
{
    private static readonly SearchValues<byte> LineFeedOrNul = SearchValues.Create([(byte)'\n', 0]);

    private readonly ReadOnlySpan<byte> _message;
    private int _position;
    private int _line;

    public HeaderBlockReader(ReadOnlySpan<byte> message)
    {
        _message = message;
    }

    /// <summary>Offset of the first body byte; valid once <see cref="Read"/> returned <see cref="HeaderReadStatus.End"/>.</summary>
    public int BodyOffset { get; private set; }

    /// <summary>Why the block is invalid, once <see cref="Read"/> returned <see cref="HeaderReadStatus.Error"/>.</summary>
    public string? Error { get; private set; }

    public HeaderReadStatus Read(out HeaderFieldRange field)
    {
        field = default;
        var message = _message;
        if (Error is not null)
        {
            return HeaderReadStatus.Error;
        }
        if (_position >= message.Length)
        {
            // Only headers, no empty line: the body is empty.
            BodyOffset = message.Length;
            return HeaderReadStatus.End;
        }

        var start = _position;
        if (!TryReadLine(start, out var contentEnd, out var next))
        {
            return HeaderReadStatus.Error;
        }
        if (contentEnd == start)
        {
            BodyOffset = next;
            _position = next;
            return HeaderReadStatus.End;
        }

        var first = message[start];
        if (first is (byte)' ' or (byte)'\t')
        {
            return Fail("continuation line before the first header field");
        }

        // field-name = 1*ftext (printable ASCII except ':'); obsolete syntax allows WSP before the colon.
        var nameEnd = start;
        while (nameEnd < contentEnd && message[nameEnd] is > 32 and < 127 and not (byte)':')
        {
            nameEnd++;
        }
        var colon = nameEnd;
        while (colon < contentEnd && message[colon] is (byte)' ' or (byte)'\t')
        {
            colon++;
        }
        if (nameEnd == start || colon >= contentEnd || message[colon] != (byte)':')
        {
            return Fail("not a header field");
        }

        // Continuation lines: every following line that starts with WSP belongs to this field.
        while (next < message.Length && message[next] is (byte)' ' or (byte)'\t')
        {
            if (!TryReadLine(next, out _, out next))
            {
                return HeaderReadStatus.Error;
            }
        }

        field = new HeaderFieldRange(start, nameEnd - start, colon + 1, next);
        _position = next;
        return HeaderReadStatus.Field;
    }

    /// <summary>One physical line from <paramref name="start"/>: where its content ends (before CR LF / LF) and
    /// where the next line starts. Fails on a NUL byte.</summary>
    private bool TryReadLine(int start, out int contentEnd, out int next)
    {
        _line++;
        var rest = _message[start..];
        var index = rest.IndexOfAny(LineFeedOrNul);
        if (index >= 0 && rest[index] == 0)
        {
            contentEnd = next = 0;
            Fail("NUL byte in header");
            return false;
        }
        if (index < 0)
        {
            next = _message.Length;
            contentEnd = rest.Length > 0 && rest[^1] == (byte)'\r' ? _message.Length - 1 : _message.Length;
            return true;
        }
        next = start + index + 1;
        contentEnd = index > 0 && rest[index - 1] == (byte)'\r' ? start + index - 1 : start + index;
        return true;
    }

    private HeaderReadStatus Fail(string what)
    {
        Error = $"line {_line}: {what}";
        return HeaderReadStatus.Error;
    }
}
