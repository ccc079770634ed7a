using System.Buffers;

namespace ManycoreMail.Mime;

/// <summary>CRLF normalisation (bare LF and bare CR become CRLF) in two cheap passes: count, then copy, so the
/// caller can allocate the exact output size. Both passes jump between line ends with vectorised searches.</summary>
public static class LineEndings
{
    private static readonly SearchValues<byte> CrOrLf = SearchValues.Create("\r\n"u8);

    /// <summary>Length of <paramref name="source"/> once every line end is CRLF.</summary>
    public static int NormalizedLength(ReadOnlySpan<byte> source)
    {
        var length = source.Length;
        var i = 0;
        while (i < source.Length)
        {
            var index = source[i..].IndexOfAny(CrOrLf);
            if (index < 0)
            {
                break;
            }
            i += index;
            if (source[i] == (byte)'\r' && i + 1 < source.Length && source[i + 1] == (byte)'\n')
            {
                i += 2;
            }
            else
            {
                length++; // a bare CR or LF grows into CRLF
                i++;
            }
        }
        return length;
    }

    /// <summary>Copy with every line end written as CRLF; returns the bytes written
    /// (<see cref="NormalizedLength"/> of the source).</summary>
    public static int CopyNormalized(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var written = 0;
        var i = 0;
        while (i < source.Length)
        {
            var index = source[i..].IndexOfAny(CrOrLf);
            if (index < 0)
            {
                source[i..].CopyTo(destination[written..]);
                written += source.Length - i;
                break;
            }
            source.Slice(i, index).CopyTo(destination[written..]);
            written += index;
            i += index;
            destination[written++] = (byte)'\r';
            destination[written++] = (byte)'\n';
            i += source[i] == (byte)'\r' && i + 1 < source.Length && source[i + 1] == (byte)'\n' ? 2 : 1;
        }
        return written;
    }
}
