using System.Buffers;
using System.Text;
using ManycoreMail.Smtp.Internal;

namespace ManycoreMail.Smtp.Client;

/// <summary>Parses one (possibly multi-line) reply from bytes as they arrive (RFC 5321 §4.2).</summary>
/// <remarks>Continuation lines ("250-...") are joined with LF in <see cref="SmtpReply.Text"/>; an
/// enhanced status code (RFC 3463) at the start of the text is taken out of every line.</remarks>
internal sealed class SmtpReplyParser
{
    /// <summary>RFC 5321 says 512; real servers send longer texts, so allow some slack but stay bounded.</summary>
    public const int MaxLineLength = 8 * 1024;
    private const int MaxLines = 256;

    private readonly StringBuilder _text = new();
    private int _code = -1;
    private string? _enhancedStatus;
    private int _lines;

    /// <summary>Consumes complete lines from <paramref name="buffer"/>; true once the last line of a reply was read.</summary>
    public bool TryParse(ref ReadOnlySequence<byte> buffer, out SmtpReply reply)
    {
        // Bounded by the buffer: each pass consumes one line.
        while (SmtpLineReader.TryReadLine(ref buffer, out var lineSequence, out var wireLength))
        {
            if (wireLength > MaxLineLength)
            {
                throw new SmtpClientException("Malformed reply: line too long");
            }

            // Replies are few and short; a rare line split across segments may be copied.
            var line = lineSequence.IsSingleSegment ? lineSequence.FirstSpan : lineSequence.ToArray();
            if (ParseLine(line))
            {
                reply = new SmtpReply(_code, _enhancedStatus, _text.ToString());
                Reset();
                return true;
            }
        }

        if (buffer.Length > MaxLineLength)
        {
            throw new SmtpClientException("Malformed reply: line too long");
        }

        reply = default;
        return false;
    }

    private bool ParseLine(ReadOnlySpan<byte> line)
    {
        if (line.Length < 3 || !IsDigit(line[0]) || !IsDigit(line[1]) || !IsDigit(line[2])
            || (line.Length > 3 && line[3] != (byte)' ' && line[3] != (byte)'-'))
        {
            throw new SmtpClientException("Malformed reply: " + Printable(line));
        }

        var code = ((line[0] - '0') * 100) + ((line[1] - '0') * 10) + (line[2] - '0');
        if (code is < 200 or > 599 || (_code >= 0 && code != _code))
        {
            throw new SmtpClientException("Malformed reply: " + Printable(line));
        }

        if (++_lines > MaxLines)
        {
            throw new SmtpClientException("Malformed reply: too many lines");
        }

        var last = line.Length == 3 || line[3] == (byte)' ';
        var text = line.Length > 4 ? line[4..] : [];
        var statusLength = EnhancedStatusLength(text, code / 100);
        if (statusLength > 0)
        {
            _enhancedStatus ??= Encoding.ASCII.GetString(text[..statusLength]);
            text = text[statusLength..].TrimStart((byte)' ');
        }

        if (_code >= 0)
        {
            _text.Append('\n');
        }

        _code = code;
        _text.Append(Encoding.UTF8.GetString(text));
        return last;
    }

    /// <summary>Length of "c.sss.ddd" at the start of <paramref name="text"/> (class must match the reply), else 0.</summary>
    private static int EnhancedStatusLength(ReadOnlySpan<byte> text, int replyClass)
    {
        if (text.Length < 5 || text[0] != (byte)('0' + replyClass) || text[1] != (byte)'.')
        {
            return 0;
        }

        var i = 2;
        var digits = CountDigits(text[i..]);
        if (digits is < 1 or > 3 || i + digits >= text.Length || text[i + digits] != (byte)'.')
        {
            return 0;
        }

        i += digits + 1;
        digits = CountDigits(text[i..]);
        if (digits is < 1 or > 3)
        {
            return 0;
        }

        i += digits;
        return i == text.Length || text[i] == (byte)' ' ? i : 0;
    }

    private static int CountDigits(ReadOnlySpan<byte> text)
    {
        var n = 0;
        while (n < text.Length && IsDigit(text[n]))
        {
            n++;
        }

        return n;
    }

    private static bool IsDigit(byte b) => b is >= (byte)'0' and <= (byte)'9';

    private static string Printable(ReadOnlySpan<byte> line)
    {
        var shown = line[..Math.Min(line.Length, 80)];
        var chars = new char[shown.Length];
        for (var i = 0; i < shown.Length; i++)
        {
            chars[i] = shown[i] is >= 0x20 and < 0x7F ? (char)shown[i] : '?';
        }

        return new string(chars);
    }

    public void Reset()
    {
        _text.Clear();
        _code = -1;
        _enhancedStatus = null;
        _lines = 0;
    }
}
