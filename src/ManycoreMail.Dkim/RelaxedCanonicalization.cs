using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Security.Cryptography;

namespace ManycoreMail.Dkim;

/// <summary>RFC 6376 §3.4.2 and §3.4.4 "relaxed" canonicalisation, on bytes.</summary>
public static class RelaxedCanonicalization
{
    /// <summary>Relaxed header canonicalisation of one raw field ("Name: value" with its folding and line end):
    /// lower-case name, WSP before the colon removed, value unfolded, WSP runs made one SP, value trimmed, CRLF
    /// appended. <paramref name="destination"/> needs <c>field.Length + 2</c> bytes. Returns the bytes written.</summary>
    public static int CanonicalizeHeader(ReadOnlySpan<byte> field, Span<byte> destination)
    {
        var colon = field.IndexOf((byte)':');
        if (colon < 0)
        {
            throw new ArgumentException("A header field needs a colon.", nameof(field));
        }
        var written = 0;
        for (var i = 0; i < colon; i++)
        {
            var b = field[i];
            destination[written++] = b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b | 0x20) : b;
        }
        while (written > 0 && destination[written - 1] is (byte)' ' or (byte)'\t')
        {
            written--;
        }
        destination[written++] = (byte)':';

        var pendingSpace = false;
        var seenValue = false;
        for (var i = colon + 1; i < field.Length; i++)
        {
            var b = field[i];
            switch (b)
            {
                case (byte)'\r' or (byte)'\n':
                    continue;
                case (byte)' ' or (byte)'\t':
                    pendingSpace = seenValue;
                    continue;
            }
            if (pendingSpace)
            {
                destination[written++] = (byte)' ';
                pendingSpace = false;
            }
            destination[written++] = b;
            seenValue = true;
        }
        destination[written++] = (byte)'\r';
        destination[written++] = (byte)'\n';
        return written;
    }

    /// <summary>Feed the relaxed canonical form of <paramref name="body"/> to <paramref name="hash"/> without
    /// materialising it: WSP runs become one SP, WSP at line ends goes, trailing empty lines go, a non-empty body
    /// ends in exactly one CRLF and an empty one hashes as nothing (RFC 6376 errata 3192, as dkimpy and OpenDKIM
    /// do). Line ends are CRLF or bare LF.</summary>
    public static void HashBody(ReadOnlySpan<byte> body, IncrementalHash hash)
    {
        ArgumentNullException.ThrowIfNull(hash);
        var sink = new HashSink(hash);
        CanonicalizeBody(body, ref sink);
    }

    /// <summary>The same, hashing at most <paramref name="limit"/> canonical bytes (a verifier's l= tag). Returns the
    /// length of the whole canonical body, so that the caller can tell a limit beyond the body's end.</summary>
    public static long HashBody(ReadOnlySpan<byte> body, IncrementalHash hash, long limit)
    {
        ArgumentNullException.ThrowIfNull(hash);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        var sink = new LimitedHashSink(hash, limit);
        CanonicalizeBody(body, ref sink);
        return sink.Total;
    }

    /// <summary>The relaxed canonical body as bytes (for tests and diagnostics; signing uses <see cref="HashBody"/>).</summary>
    public static byte[] CanonicalizeBody(ReadOnlySpan<byte> body)
    {
        var sink = new BufferSink(new ArrayBufferWriter<byte>(body.Length + 2));
        CanonicalizeBody(body, ref sink);
        return sink.Writer.WrittenSpan.ToArray();
    }

    private interface ISink
    {
        void Write(ReadOnlySpan<byte> data);
    }

    private readonly struct HashSink(IncrementalHash hash) : ISink
    {
        public void Write(ReadOnlySpan<byte> data) => hash.AppendData(data);
    }

    /// <summary>Mutable on purpose: it is only ever passed by reference, and counts what went through it.</summary>
    private struct LimitedHashSink(IncrementalHash hash, long limit) : ISink
    {
        public long Total { get; private set; }

        public void Write(ReadOnlySpan<byte> data)
        {
            var room = limit - Total;
            if (room > 0)
            {
                hash.AppendData(data.Length <= room ? data : data[..(int)room]);
            }
            Total += data.Length;
        }
    }

    private readonly struct BufferSink(ArrayBufferWriter<byte> writer) : ISink
    {
        public ArrayBufferWriter<byte> Writer => writer;
        public void Write(ReadOnlySpan<byte> data) => writer.Write(data);
    }

    /// <summary>
    /// Most of real mail is already canonical: CRLF line ends, single spaces, no tabs, nothing trailing. One
    /// vectorised scan (<see cref="IndexOfChange"/>) finds the next byte that the relaxed form would change, and
    /// everything before the line holding it goes to the sink as it is, straight from the body; only such lines
    /// go through the loop that trims and folds. Trailing WSP and empty lines at the end are cut off before the
    /// scan (<see cref="ContentLength"/>), so every line end inside the content is written when seen. Small
    /// writes are gathered in a 4 KB stack buffer so the sink (a native hash call) sees few, large writes.
    /// </summary>
    private static void CanonicalizeBody<TSink>(ReadOnlySpan<byte> body, ref TSink sink) where TSink : struct, ISink
    {
        var content = body[..ContentLength(body)];
        if (content.IsEmpty)
        {
            return;
        }
        var output = new Output<TSink>(stackalloc byte[4096]);
        var position = 0;
        while (position < content.Length)
        {
            var change = IndexOfChange(content, position);
            if (change < 0)
            {
                output.Write(content[position..], ref sink);
                break;
            }
            // Every line before the one with the change is canonical already.
            var lineStart = content[position..change].LastIndexOf((byte)'\n') + 1 + position;
            output.Write(content[position..lineStart], ref sink);
            var lineEnd = content[change..].IndexOf((byte)'\n');
            if (lineEnd < 0)
            {
                WriteLine(content[lineStart..], ref output, ref sink);
                break;
            }
            lineEnd += change;
            var line = content[lineStart..lineEnd];
            WriteLine(!line.IsEmpty && line[^1] == (byte)'\r' ? line[..^1] : line, ref output, ref sink);
            output.Write("\r\n"u8, ref sink);
            position = lineEnd + 1;
        }
        output.Write("\r\n"u8, ref sink);
        output.Flush(ref sink);
    }

    /// <summary>Length of the body without what the relaxed form drops at its end: WSP, and line ends (LF, or CR
    /// before LF; a CR elsewhere is content, as in the line-by-line definition).</summary>
    private static int ContentLength(ReadOnlySpan<byte> body)
    {
        var end = body.Length;
        while (end > 0)
        {
            var b = body[end - 1];
            if (b is (byte)' ' or (byte)'\t' or (byte)'\n' || (b == (byte)'\r' && end < body.Length && body[end] == (byte)'\n'))
            {
                end--;
                continue;
            }
            break;
        }
        return end;
    }

    /// <summary>One line (without its line end) in relaxed form: trailing WSP dropped, WSP runs made one SP.</summary>
    private static void WriteLine<TSink>(ReadOnlySpan<byte> line, ref Output<TSink> output, ref TSink sink) where TSink : struct, ISink
    {
        line = line.TrimEnd(" \t"u8);
        if (line.IndexOf((byte)'\t') < 0 && line.IndexOf("  "u8) < 0)
        {
            output.Write(line, ref sink);
        }
        else
        {
            WriteFoldingWhitespace(line, ref output, ref sink);
        }
    }

    /// <summary>
    /// Index (from <paramref name="start"/> on) of the first byte the relaxed form changes: a tab, a space
    /// followed by WSP or a line end, or a bare LF. <paramref name="content"/> ends in neither WSP nor a line
    /// end, so a space always has a successor. -1 when there is none.
    /// </summary>
    internal static int IndexOfChange(ReadOnlySpan<byte> content, int start)
    {
        var i = start;
        if (i == 0 && content.Length > 0)
        {
            if (ChangesAt(content, 0))
            {
                return 0;
            }
            i = 1;
        }
        if (Vector256.IsHardwareAccelerated)
        {
            ref var origin = ref MemoryMarshal.GetReference(content);
            var space = Vector256.Create((byte)' ');
            var tab = Vector256.Create((byte)'\t');
            var cr = Vector256.Create((byte)'\r');
            var lf = Vector256.Create((byte)'\n');
            // Each round looks at 32 bytes with their predecessors and successors, all inside the content.
            for (; i + Vector256<byte>.Count < content.Length; i += Vector256<byte>.Count)
            {
                var current = Vector256.LoadUnsafe(ref origin, (nuint)i);
                var next = Vector256.LoadUnsafe(ref origin, (nuint)(i + 1));
                var previous = Vector256.LoadUnsafe(ref origin, (nuint)(i - 1));
                var nextIsWspOrEnd = Vector256.Equals(next, space) | Vector256.Equals(next, tab) | Vector256.Equals(next, cr) | Vector256.Equals(next, lf);
                var changes = Vector256.Equals(current, tab)
                    | (Vector256.Equals(current, space) & nextIsWspOrEnd)
                    | Vector256.AndNot(Vector256.Equals(current, lf), Vector256.Equals(previous, cr));
                if (changes != Vector256<byte>.Zero)
                {
                    return i + BitOperations.TrailingZeroCount(changes.ExtractMostSignificantBits());
                }
            }
        }
        for (; i < content.Length; i++)
        {
            if (ChangesAt(content, i))
            {
                return i;
            }
        }
        return -1;
    }

    private static bool ChangesAt(ReadOnlySpan<byte> content, int i) => content[i] switch
    {
        (byte)'\t' => true,
        (byte)' ' => i + 1 < content.Length && content[i + 1] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n',
        (byte)'\n' => i == 0 || content[i - 1] != (byte)'\r',
        _ => false,
    };

    private static void WriteFoldingWhitespace<TSink>(ReadOnlySpan<byte> line, ref Output<TSink> output, ref TSink sink)
        where TSink : struct, ISink
    {
        // Trailing WSP is already gone, so every run found here is followed by content.
        var inRun = false;
        foreach (var b in line)
        {
            if (b is (byte)' ' or (byte)'\t')
            {
                inRun = true;
                continue;
            }
            if (inRun)
            {
                output.WriteByte((byte)' ', ref sink);
                inRun = false;
            }
            output.WriteByte(b, ref sink);
        }
    }

    private ref struct Output<TSink>(Span<byte> buffer) where TSink : struct, ISink
    {
        private const int DirectWrite = 512;

        private readonly Span<byte> _buffer = buffer;
        private int _used;

        public void Write(ReadOnlySpan<byte> data, ref TSink sink)
        {
            // Large pieces (runs of canonical lines) go to the sink as they are, without a copy.
            if (data.Length >= DirectWrite || data.Length > _buffer.Length - _used)
            {
                Flush(ref sink);
                if (data.Length >= DirectWrite)
                {
                    sink.Write(data);
                    return;
                }
            }
            data.CopyTo(_buffer[_used..]);
            _used += data.Length;
        }

        public void WriteByte(byte value, ref TSink sink)
        {
            if (_used == _buffer.Length)
            {
                Flush(ref sink);
            }
            _buffer[_used++] = value;
        }

        public void Flush(ref TSink sink)
        {
            if (_used > 0)
            {
                sink.Write(_buffer[.._used]);
                _used = 0;
            }
        }
    }
}
