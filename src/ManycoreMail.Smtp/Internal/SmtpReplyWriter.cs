using System.Buffers;

namespace ManycoreMail.Smtp.Internal;

/// <summary>Formats replies straight into an output buffer as ASCII.</summary>
internal static class SmtpReplyWriter
{
    /// <summary>Writes a reply; a text containing LF becomes a multi-line reply ("250-a", "250 b").
    /// Anything that is not printable ASCII is replaced, so a handler's text can never inject a line.</summary>
    public static void Write(IBufferWriter<byte> output, in SmtpReply reply)
    {
        var text = reply.Text.AsSpan();
        var code = Math.Clamp(reply.Code, 0, 999);
        // Bounded by the text length: each pass consumes one line of it.
        while (true)
        {
            var newline = text.IndexOf('\n');
            var line = newline < 0 ? text : text[..newline];
            line = line.TrimEnd('\r');
            WriteLine(output, code, newline < 0, reply.EnhancedStatus, line);
            if (newline < 0)
            {
                return;
            }

            text = text[(newline + 1)..];
        }
    }

    public static void WriteLine(IBufferWriter<byte> output, int code, bool last, string? enhancedStatus, ReadOnlySpan<char> text)
    {
        var length = 4 + (enhancedStatus is null ? 0 : enhancedStatus.Length + 1) + text.Length + 2;
        var span = output.GetSpan(length);
        span[0] = (byte)('0' + (code / 100 % 10));
        span[1] = (byte)('0' + (code / 10 % 10));
        span[2] = (byte)('0' + (code % 10));
        span[3] = last ? (byte)' ' : (byte)'-';
        var at = 4;
        if (enhancedStatus is not null)
        {
            at += CopyAscii(enhancedStatus, span[at..]);
            span[at++] = (byte)' ';
        }

        at += CopyAscii(text, span[at..]);
        span[at++] = (byte)'\r';
        span[at++] = (byte)'\n';
        output.Advance(at);
    }

    private static int CopyAscii(ReadOnlySpan<char> text, Span<byte> target)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            target[i] = c is >= ' ' and < (char)0x7F ? (byte)c : (byte)'?';
        }

        return text.Length;
    }
}
