using System.Buffers;
using System.Buffers.Text;

namespace ManycoreMail.Queue.Redis;

/// <summary>
/// Decodes a stream of RESP2 and RESP3 replies handed over in pieces as they arrive. It consumes everything it is
/// given except an unfinished header line: a bulk string is copied once, piece by piece, straight into the array
/// that becomes its value, and an aggregate keeps the elements decoded so far. However a reply is split, no byte is
/// decoded twice and nothing waits in the caller's buffer (a 137 KB body arriving in 4 KB reads is copied once,
/// not once per read). One decoder per connection; not thread-safe.
/// </summary>
public sealed class RespDecoder
{
    private readonly Stack<Aggregate> _open = new(0);
    // The bulk string being filled, if any; _skip counts the bytes of a verbatim string's "txt:" still to pass.
    private byte[]? _bulk;
    private int _filled;
    private int _skip;
    private RespType _bulkType;

    /// <summary>Decodes the next complete reply from <paramref name="reader"/>, or consumes what there is of it and
    /// returns false (a later call with the bytes that follow goes on from there).</summary>
    /// <exception cref="RespProtocolException">The bytes are not RESP; the decoder cannot continue.</exception>
    public bool TryDecode(ref SequenceReader<byte> reader, out RespValue value)
    {
        while (true)
        {
            RespValue done;
            if (_bulk is not null)
            {
                if (!TryFinishBulk(ref reader, out done))
                {
                    value = default;
                    return false;
                }
            }
            else
            {
                if (_open.Count > RespParser.MaxDepth)
                {
                    throw new RespProtocolException("RESP reply nested too deeply.");
                }
                var started = TryStart(ref reader, out done);
                if (started is null)
                {
                    value = default;
                    return false;
                }
                if (started == false)
                {
                    continue; // a bulk string or an aggregate was opened: its contents follow
                }
            }
            if (Place(ref done))
            {
                value = done;
                return true;
            }
        }
    }

    /// <summary>Puts a complete value into the innermost open aggregate, closing those it completes. True when the
    /// value (or the aggregate it completed) is a whole reply.</summary>
    private bool Place(ref RespValue done)
    {
        while (_open.TryPeek(out var top))
        {
            if (!top.Add(done))
            {
                return false;
            }
            _open.Pop();
            if (top.IsAttribute)
            {
                // Attributes describe the value that follows; nothing here uses them, so they go.
                return false;
            }
            done = RespValue.Aggregate(top.Type, top.Items);
        }
        return true;
    }

    /// <summary>Reads one header line. Null when it is not complete yet (nothing consumed), true with a value that
    /// needs nothing more, false when it opened a bulk string or an aggregate.</summary>
    private bool? TryStart(ref SequenceReader<byte> reader, out RespValue value)
    {
        value = default;
        var attempt = reader;
        if (!attempt.TryRead(out var marker) || !attempt.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8))
        {
            return null;
        }
        reader = attempt;
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
                return StartBulk(line, RespType.BulkString, out value);
            case (byte)'!':
                return StartBulk(line, RespType.BulkError, out value);
            case (byte)'=':
                return StartBulk(line, RespType.VerbatimString, out value);
            case (byte)'*':
                return StartAggregate(line, RespType.Array, 1, false, out value);
            case (byte)'~':
                return StartAggregate(line, RespType.Set, 1, false, out value);
            case (byte)'>':
                return StartAggregate(line, RespType.Push, 1, false, out value);
            case (byte)'%':
                return StartAggregate(line, RespType.Map, 2, false, out value);
            case (byte)'|':
                return StartAggregate(line, RespType.Map, 2, true, out value);
            default:
                throw new RespProtocolException($"Unknown RESP type marker 0x{marker:x2}.");
        }
    }

    private bool StartBulk(in ReadOnlySequence<byte> line, RespType type, out RespValue value)
    {
        value = default;
        var length = ParseInteger(line);
        if (length == -1 && type == RespType.BulkString)
        {
            value = RespValue.Null;
            return true;
        }
        if (length < 0 || length > RespParser.MaxBulkLength)
        {
            throw new RespProtocolException($"Bad RESP bulk length {length}.");
        }
        // "txt:" or "mkd:" says how to show a verbatim string; the text itself is what callers want.
        _skip = type == RespType.VerbatimString ? 4 : 0;
        if (length < _skip)
        {
            throw new RespProtocolException("RESP verbatim string without a format prefix.");
        }
        _bulk = GC.AllocateUninitializedArray<byte>((int)length - _skip);
        _filled = 0;
        _bulkType = type;
        return false;
    }

    private bool TryFinishBulk(ref SequenceReader<byte> reader, out RespValue value)
    {
        value = default;
        var bulk = _bulk!;
        while (_skip > 0 && reader.TryRead(out var prefix))
        {
            if (_skip == 1 && prefix != (byte)':')
            {
                throw new RespProtocolException("RESP verbatim string without a format prefix.");
            }
            _skip--;
        }
        if (_skip > 0)
        {
            return false;
        }
        var missing = bulk.Length - _filled;
        if (missing > 0)
        {
            var take = (int)Math.Min(missing, reader.Remaining);
            reader.TryCopyTo(bulk.AsSpan(_filled, take));
            reader.Advance(take);
            _filled += take;
            if (take < missing)
            {
                return false;
            }
        }
        if (reader.Remaining < 2)
        {
            return false;
        }
        if (!reader.IsNext("\r\n"u8, advancePast: true))
        {
            throw new RespProtocolException("RESP bulk string not followed by CRLF.");
        }
        _bulk = null;
        value = RespValue.String(_bulkType, bulk);
        return true;
    }

    private bool StartAggregate(in ReadOnlySequence<byte> line, RespType type, int perEntry, bool attribute, out RespValue value)
    {
        value = default;
        var count = ParseInteger(line);
        if (count == -1 && type == RespType.Array)
        {
            value = RespValue.Null;
            return true;
        }
        if (count < 0 || count > RespParser.MaxAggregateLength)
        {
            throw new RespProtocolException($"Bad RESP aggregate length {count}.");
        }
        if (count == 0)
        {
            if (attribute)
            {
                return false; // an empty attribute: the value it describes comes next
            }
            value = RespValue.Aggregate(type, []);
            return true;
        }
        _open.Push(new Aggregate((int)(count * perEntry), type, attribute));
        return false;
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

    /// <summary>An aggregate being filled. Its array grows as elements arrive, so that a header announcing millions
    /// of them costs nothing until they come.</summary>
    private sealed class Aggregate(int count, RespType type, bool isAttribute)
    {
        private RespValue[] _items = new RespValue[Math.Min(count, 1024)];
        private int _filled;

        public RespValue[] Items => _items;

        public RespType Type { get; } = type;

        public bool IsAttribute { get; } = isAttribute;

        /// <summary>Adds the next element; true when it was the last.</summary>
        public bool Add(RespValue value)
        {
            if (_filled == _items.Length)
            {
                Array.Resize(ref _items, (int)Math.Min(count, 2L * _items.Length));
            }
            _items[_filled++] = value;
            return _filled == count;
        }
    }
}
