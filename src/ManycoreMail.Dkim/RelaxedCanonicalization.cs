using System.Buffers;
using System.Security.Cryptography;

namespace ManycoreMail.Dkim;

/// <summary>RFC 6376 §3.4.2 and §3.4.4 "relaxed" canonicalisation, on bytes.</summary>
public static class RelaxedCanonicalization
{
    private static readonly SearchValues<byte> WspOrLineEnd = SearchValues.Create(" \t\r\n"u8);

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
    /// One pass over the body. Output goes through a 4 KB stack buffer so the sink (a native hash call) sees few,
    /// large writes; long runs without whitespace bypass the buffer. Line ends are not written when seen but counted,
    /// and written only when more content follows: that is what drops trailing empty lines without look-ahead.
    /// </summary>
    private static void CanonicalizeBody<TSink>(ReadOnlySpan<byte> body, ref TSink sink) where TSink : struct, ISink
    {
        Span<byte> buffer = stackalloc byte[4096];
        var used = 0;
        var pendingLineEnds = 0;
        var pendingSpace = false;
        var wroteAny = false;
        var i = 0;
        // Every round consumes at least one byte.
        while (i < body.Length)
        {
            var run = body[i..].IndexOfAny(WspOrLineEnd);
            if (run != 0)
            {
                var text = run < 0 ? body[i..] : body.Slice(i, run);
                FlushPending(ref sink, buffer, ref used, ref pendingLineEnds, ref pendingSpace);
                if (text.Length > buffer.Length - used)
                {
                    sink.Write(buffer[..used]);
                    used = 0;
                    if (text.Length > buffer.Length)
                    {
                        sink.Write(text);
                        text = default;
                    }
                }
                text.CopyTo(buffer[used..]);
                used += text.Length;
                wroteAny = true;
                i += text.Length;
                if (run < 0)
                {
                    break;
                }
                continue;
            }

            var b = body[i];
            if (b is (byte)' ' or (byte)'\t')
            {
                pendingSpace = true;
                i++;
            }
            else if (b == (byte)'\n')
            {
                pendingSpace = false;
                pendingLineEnds++;
                i++;
            }
            else if (i + 1 < body.Length && body[i + 1] == (byte)'\n')
            {
                pendingSpace = false;
                pendingLineEnds++;
                i += 2;
            }
            else
            {
                // A bare CR is content like any other byte.
                FlushPending(ref sink, buffer, ref used, ref pendingLineEnds, ref pendingSpace);
                if (used == buffer.Length)
                {
                    sink.Write(buffer);
                    used = 0;
                }
                buffer[used++] = b;
                wroteAny = true;
                i++;
            }
        }

        if (wroteAny)
        {
            if (used + 2 > buffer.Length)
            {
                sink.Write(buffer[..used]);
                used = 0;
            }
            buffer[used++] = (byte)'\r';
            buffer[used++] = (byte)'\n';
        }
        if (used > 0)
        {
            sink.Write(buffer[..used]);
        }
    }

    /// <summary>Content follows: write the line ends held back so far, then the space for a WSP run.</summary>
    private static void FlushPending<TSink>(ref TSink sink, Span<byte> buffer, ref int used, ref int pendingLineEnds, ref bool pendingSpace)
        where TSink : struct, ISink
    {
        // Bounded by the number of line ends seen.
        while (pendingLineEnds > 0)
        {
            if (used + 2 > buffer.Length)
            {
                sink.Write(buffer[..used]);
                used = 0;
            }
            buffer[used++] = (byte)'\r';
            buffer[used++] = (byte)'\n';
            pendingLineEnds--;
        }
        if (pendingSpace)
        {
            if (used == buffer.Length)
            {
                sink.Write(buffer);
                used = 0;
            }
            buffer[used++] = (byte)' ';
            pendingSpace = false;
        }
    }
}
