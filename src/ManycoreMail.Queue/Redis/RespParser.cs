using System.Buffers;
using System.Buffers.Text;

namespace ManycoreMail.Queue.Redis;

/// <summary>Thrown when the server sends bytes that are not RESP; the connection cannot continue.</summary>
public sealed class RespProtocolException(string message) : Exception(message);

/// <summary>
/// Decodes RESP2 and RESP3 replies from a <see cref="SequenceReader{T}"/>. A frame split across reads
/// is not an error: <see cref="TryRead"/> returns false and leaves the reader where the frame began,
/// so the caller can hand the same bytes back with more appended.
/// </summary>
public static class RespParser
{
    /// <summary>Deepest nesting accepted; Redis never comes close, a hostile peer might.</summary>
    public const int MaxDepth = 32;

    /// <summary>Largest bulk string accepted (Redis' own proto-max-bulk-len default).</summary>
    public const long MaxBulkLength = 512L * 1024 * 1024;

    /// <summary>Most elements accepted in one aggregate.</summary>
    public const long MaxAggregateLength = 1L << 24;

    /// <summary>Reads one complete reply. Returns false, with <paramref name="reader"/> unchanged, when
    /// the buffer ends inside the frame.</summary>
    /// <exception cref="RespProtocolException">The bytes are not RESP.</exception>
    public static bool TryRead(ref SequenceReader<byte> reader, out RespValue value)
    {
        var attempt = reader;
        if (TryReadValue(ref attempt, out value, 0))
        {
            reader = attempt;
            return true;
        }
        value = default;
        return false;
    }

    private static bool TryReadValue(ref SequenceReader<byte> reader, out RespValue value, int depth)
    {
        value = default;
        if (depth > MaxDepth)
        {
            throw new RespProtocolException("RESP reply nested too deeply.");
        }
        if (!reader.TryRead(out var marker) || !reader.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8))
        {
            return false;
        }

        switch (marker)
        {
            case (byte)'+':
                value = line.IsSingleSegment ? RespValue.SimpleString(line.FirstSpan) : RespValue.SimpleString(line.ToArray());
                return true;
            case (byte)'-':
                value = RespValue.String(RespType.Error, line.ToArray());
                return true;
            case (byte)':':
                value = RespValue.FromInteger(ParseInteger(line));
                return true;
            case (byte)'_':
                value = RespValue.Null;
                return true;
            case (byte)'#':
                value = ParseBoolean(line);
                return true;
            case (byte)',':
                value = RespValue.FromDouble(ParseDouble(line));
                return true;
            case (byte)'(':
                value = RespValue.String(RespType.BigNumber, line.ToArray());
                return true;
            case (byte)'$':
                return TryReadBulk(ref reader, line, RespType.BulkString, out value);
            case (byte)'!':
                return TryReadBulk(ref reader, line, RespType.BulkError, out value);
            case (byte)'=':
                return TryReadBulk(ref reader, line, RespType.VerbatimString, out value);
            case (byte)'*':
                return TryReadAggregate(ref reader, line, RespType.Array, 1, depth, out value);
            case (byte)'~':
                return TryReadAggregate(ref reader, line, RespType.Set, 1, depth, out value);
            case (byte)'>':
                return TryReadAggregate(ref reader, line, RespType.Push, 1, depth, out value);
            case (byte)'%':
                return TryReadAggregate(ref reader, line, RespType.Map, 2, depth, out value);
            case (byte)'|':
                // Attributes describe the reply that follows; nothing here uses them, so skip them.
                return TryReadAggregate(ref reader, line, RespType.Map, 2, depth, out _)
                    && TryReadValue(ref reader, out value, depth + 1);
            default:
                throw new RespProtocolException($"Unknown RESP type marker 0x{marker:x2}.");
        }
    }

    private static bool TryReadBulk(ref SequenceReader<byte> reader, ReadOnlySequence<byte> line, RespType type, out RespValue value)
    {
        value = default;
        var length = ParseInteger(line);
        if (length == -1 && type == RespType.BulkString)
        {
            value = RespValue.Null;
            return true;
        }
        if (length < 0 || length > MaxBulkLength)
        {
            throw new RespProtocolException($"Bad RESP bulk length {length}.");
        }
        // Checking the length first keeps a large body arriving in pieces from being copied each time.
        if (reader.Remaining < length + 2)
        {
            return false;
        }

        var bytes = GC.AllocateUninitializedArray<byte>((int)length);
        reader.TryCopyTo(bytes);
        reader.Advance(length);
        if (!reader.IsNext("\r\n"u8, advancePast: true))
        {
            throw new RespProtocolException("RESP bulk string not followed by CRLF.");
        }

        if (type == RespType.VerbatimString)
        {
            // "txt:" or "mkd:" says how to show the text; the text itself is what callers want.
            if (bytes.Length < 4 || bytes[3] != (byte)':')
            {
                throw new RespProtocolException("RESP verbatim string without a format prefix.");
            }
            bytes = bytes[4..];
        }
        value = RespValue.String(type, bytes);
        return true;
    }

    private static bool TryReadAggregate(ref SequenceReader<byte> reader, ReadOnlySequence<byte> line, RespType type, int perEntry, int depth, out RespValue value)
    {
        value = default;
        var count = ParseInteger(line);
        if (count == -1 && type == RespType.Array)
        {
            value = RespValue.Null;
            return true;
        }
        if (count < 0 || count > MaxAggregateLength)
        {
            throw new RespProtocolException($"Bad RESP aggregate length {count}.");
        }
        // Every element needs at least three bytes: a frame that cannot be complete is not decoded yet.
        var elements = count * perEntry;
        if (reader.Remaining < elements * 3)
        {
            return false;
        }

        var items = elements == 0 ? [] : new RespValue[elements];
        for (var i = 0; i < items.Length; i++)
        {
            if (!TryReadValue(ref reader, out items[i], depth + 1))
            {
                return false;
            }
        }
        value = RespValue.Aggregate(type, items);
        return true;
    }

    private static long ParseInteger(in ReadOnlySequence<byte> line)
    {
        Span<byte> scratch = stackalloc byte[24];
        var text = Flatten(line, scratch);
        if (!Utf8Parser.TryParse(text, out long number, out var used) || used != text.Length)
        {
            throw new RespProtocolException("Bad RESP integer.");
        }
        return number;
    }

    private static RespValue ParseBoolean(in ReadOnlySequence<byte> line)
    {
        Span<byte> scratch = stackalloc byte[2];
        return Flatten(line, scratch) switch
        {
            [(byte)'t'] => RespValue.FromBoolean(true),
            [(byte)'f'] => RespValue.FromBoolean(false),
            _ => throw new RespProtocolException("Bad RESP boolean."),
        };
    }

    private static double ParseDouble(in ReadOnlySequence<byte> line)
    {
        Span<byte> scratch = stackalloc byte[64];
        var text = Flatten(line, scratch);
        if (text.SequenceEqual("inf"u8) || text.SequenceEqual("+inf"u8))
        {
            return double.PositiveInfinity;
        }
        if (text.SequenceEqual("-inf"u8))
        {
            return double.NegativeInfinity;
        }
        if (text.SequenceEqual("nan"u8) || text.SequenceEqual("-nan"u8))
        {
            return double.NaN;
        }
        if (!Utf8Parser.TryParse(text, out double number, out var used, 'G') || used != text.Length)
        {
            throw new RespProtocolException("Bad RESP double.");
        }
        return number;
    }

    private static ReadOnlySpan<byte> Flatten(in ReadOnlySequence<byte> line, Span<byte> scratch)
    {
        if (line.IsSingleSegment)
        {
            return line.FirstSpan;
        }
        if (line.Length > scratch.Length)
        {
            throw new RespProtocolException("RESP number too long.");
        }
        line.CopyTo(scratch);
        return scratch[..(int)line.Length];
    }
}
