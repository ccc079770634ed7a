using System.Buffers;
using System.Text;

namespace ManycoreMail.Mime;

/// <summary>One header field as it stands in the message.</summary>
public sealed class HeaderField
{
    public required string Name { get; init; }
    /// <summary>The whole field as received: name, colon, value with its folding, and its line end.</summary>
    public required ReadOnlyMemory<byte> Raw { get; init; }
    /// <summary>The value unfolded (CRLF/LF before WSP removed, runs of WSP kept as they are), trimmed, decoded as UTF-8.</summary>
    public required string Value { get; init; }

    /// <summary>A value with every run of whitespace turned into one space and trimmed
    /// ("A   B\tC" → "A B C"), for comparisons that must not depend on how a field was folded.</summary>
    public static string CollapseWhitespace(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var trimmed = value.AsSpan().Trim(" \t\r\n");
        if (!NeedsCollapsing(trimmed))
        {
            return trimmed.Length == value.Length ? value : trimmed.ToString();
        }
        var builder = new StringBuilder(trimmed.Length);
        var pendingSpace = false;
        foreach (var c in trimmed)
        {
            if (c is ' ' or '\t' or '\r' or '\n')
            {
                pendingSpace = true;
                continue;
            }
            if (pendingSpace)
            {
                builder.Append(' ');
                pendingSpace = false;
            }
            builder.Append(c);
        }
        return builder.ToString();
    }

    private static bool NeedsCollapsing(ReadOnlySpan<char> text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c is '\t' or '\r' or '\n' || (c == ' ' && i + 1 < text.Length && text[i + 1] is ' ' or '\t' or '\r' or '\n'))
            {
                return true;
            }
        }
        return false;
    }
}

/// <summary>The header block of an RFC 5322 message, parsed once from its bytes (LF or CRLF line ends).</summary>
public sealed class MessageHeaders
{
    // Names almost every message carries: reusing these strings saves one allocation per field.
    private static readonly string[] CommonNames =
    [
        "From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "Reply-To", "Sender", "MIME-Version",
        "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Received", "Return-Path",
        "X-Uuid", "X-Priority", "X-Stream-Id", "X-Mailer", "List-Unsubscribe", "List-Unsubscribe-Post",
        "Feedback-ID", "DKIM-Signature", "Message-Id", "In-Reply-To", "References",
    ];

    private readonly List<HeaderField> _fields;

    private MessageHeaders(List<HeaderField> fields, int bodyOffset)
    {
        _fields = fields;
        BodyOffset = bodyOffset;
    }

    public IReadOnlyList<HeaderField> Fields => _fields;

    /// <summary>Offset of the first body byte (after the empty line), or the message length when there is no body.</summary>
    public int BodyOffset { get; }

    /// <summary>Parse the header block. Fails (with a precise error) on a line that is neither a field,
    /// a continuation nor the empty separator, and on a NUL byte in the header.</summary>
    public static bool TryParse(ReadOnlyMemory<byte> message, out MessageHeaders headers, out string? error)
    {
        var span = message.Span;
        var reader = new HeaderBlockReader(span);
        var fields = new List<HeaderField>(24);
        while (true)
        {
            switch (reader.Read(out var range))
            {
                case HeaderReadStatus.Field:
                    fields.Add(new HeaderField
                    {
                        Name = NameOf(span.Slice(range.Start, range.NameLength)),
                        Raw = message[range.Start..range.End],
                        Value = ValueOf(span[range.ValueStart..range.End]),
                    });
                    break;
                case HeaderReadStatus.End:
                    headers = new MessageHeaders(fields, reader.BodyOffset);
                    error = null;
                    return true;
                default:
                    headers = new MessageHeaders([], 0);
                    error = reader.Error;
                    return false;
            }
        }
    }

    /// <summary>First field with this name (case-insensitive), or null.</summary>
    public string? First(string name)
    {
        foreach (var field in _fields)
        {
            if (string.Equals(field.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return field.Value;
            }
        }
        return null;
    }

    /// <summary>Last field with this name (case-insensitive), or null.</summary>
    public string? Last(string name)
    {
        for (var i = _fields.Count - 1; i >= 0; i--)
        {
            if (string.Equals(_fields[i].Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return _fields[i].Value;
            }
        }
        return null;
    }

    public IEnumerable<HeaderField> All(string name)
    {
        foreach (var field in _fields)
        {
            if (string.Equals(field.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                yield return field;
            }
        }
    }

    private static string NameOf(ReadOnlySpan<byte> name)
    {
        foreach (var common in CommonNames)
        {
            if (common.Length == name.Length && Ascii.Equals(name, common))
            {
                return common;
            }
        }
        return Encoding.ASCII.GetString(name);
    }

    /// <summary>Unfold (drop the line ends, keep the WSP), trim, decode UTF-8.</summary>
    private static string ValueOf(ReadOnlySpan<byte> raw)
    {
        var firstLineEnd = raw.IndexOf((byte)'\n');
        if (firstLineEnd < 0 || firstLineEnd == raw.Length - 1)
        {
            // Not folded: the common case needs no copy.
            var line = firstLineEnd < 0 ? raw : raw[..firstLineEnd];
            return Encoding.UTF8.GetString(line.Trim(" \t\r"u8));
        }

        byte[]? rented = null;
        var buffer = raw.Length <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(raw.Length));
        var length = 0;
        var rest = raw;
        while (!rest.IsEmpty)
        {
            var lf = rest.IndexOf((byte)'\n');
            var line = lf < 0 ? rest : rest[..lf];
            if (lf >= 0 && line.Length > 0 && line[^1] == (byte)'\r')
            {
                line = line[..^1];
            }
            line.CopyTo(buffer[length..]);
            length += line.Length;
            rest = lf < 0 ? default : rest[(lf + 1)..];
        }
        var value = Encoding.UTF8.GetString(buffer[..length].Trim(" \t"u8));
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
        return value;
    }
}
