using System.Buffers;
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

    private readonly struct BufferSink(ArrayBufferWriter<byte> writer) : ISink
    {
        public ArrayBufferWriter<byte> Writer => writer;
        public void Write(ReadOnlySpan<byte> data) => writer.Write(data);
    }

    /// <summary>
    /// One pass over the body, a line at a time. Most lines of real mail need no change at all (single spaces, no
    /// tabs, nothing trailing), which three vectorised searches prove, and are then copied whole; only the others
    /// go through the byte loop that folds WSP runs. Output is gathered in a 4 KB stack buffer so the sink (a
    /// native hash call) sees few, large writes. Line ends are not written when seen but counted, and written only
    /// when more content follows: that drops trailing empty lines without look-ahead.
    /// </summary>
    private static void CanonicalizeBody<TSink>(ReadOnlySpan<byte> body, ref TSink sink) where TSink : struct, ISink
    {
        var output = new Output<TSink>(stackalloc byte[4096]);
        var pendingLineEnds = 0;
        var wroteAny = false;
        var rest = body;
        // Every round consumes one line.
        while (!rest.IsEmpty)
        {
            ReadOnlySpan<byte> line;
            var lf = rest.IndexOf((byte)'\n');
            if (lf < 0)
            {
                line = rest;
                rest = default;
            }
            else
            {
                line = rest[..lf];
                rest = rest[(lf + 1)..];
                if (!line.IsEmpty && line[^1] == (byte)'\r')
                {
                    line = line[..^1];
                }
            }

            line = line.TrimEnd(" \t"u8);
            if (!line.IsEmpty)
            {
                for (; pendingLineEnds > 0; pendingLineEnds--)
                {
                    output.Write("\r\n"u8, ref sink);
                }
                if (line.IndexOf((byte)'\t') < 0 && line.IndexOf("  "u8) < 0)
                {
                    output.Write(line, ref sink);
                }
                else
                {
                    WriteFoldingWhitespace(line, ref output, ref sink);
                }
                wroteAny = true;
            }
            if (lf >= 0)
            {
                pendingLineEnds++;
            }
        }

        if (wroteAny)
        {
            output.Write("\r\n"u8, ref sink);
        }
        output.Flush(ref sink);
    }

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
        private readonly Span<byte> _buffer = buffer;
        private int _used;

        public void Write(ReadOnlySpan<byte> data, ref TSink sink)
        {
            if (data.Length > _buffer.Length - _used)
            {
                Flush(ref sink);
                if (data.Length > _buffer.Length)
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
