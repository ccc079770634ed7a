using System.Buffers;

namespace ManycoreMail.Smtp.Internal;

internal static class SmtpLineReader
{
    /// <summary>Takes one LF-terminated line off the front of <paramref name="buffer"/>.
    /// <paramref name="line"/> excludes the LF and a CR before it; <paramref name="wireLength"/>
    /// counts every byte the line occupied, terminator included.</summary>
    public static bool TryReadLine(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line, out long wireLength)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out line, (byte)'\n', advancePastDelimiter: true))
        {
            wireLength = 0;
            return false;
        }

        wireLength = reader.Consumed;
        buffer = buffer.Slice(reader.Position);
        if (line.Length > 0)
        {
            var lastCr = line.Slice(line.Length - 1);
            if (lastCr.FirstSpan[0] == (byte)'\r')
            {
                line = line.Slice(0, line.Length - 1);
            }
        }

        return true;
    }
}
