using System.Buffers.Text;
using System.Text;

namespace ManycoreMail.Queue.Redis;

/// <summary>The kinds of reply RESP2 and RESP3 can carry. RESP2's null bulk string and null array
/// both arrive as <see cref="Null"/>.</summary>
public enum RespType : byte
{
    SimpleString,
    Error,
    Integer,
    BulkString,
    Array,
    Null,
    Double,
    Boolean,
    BigNumber,
    VerbatimString,
    Map,
    Set,
    Push,
    BulkError,
}

/// <summary>
/// One decoded reply. A struct so that integers, nulls and booleans cost nothing; strings own a fresh
/// byte array (the caller keeps bodies without another copy), aggregates an array of values
/// (a map is flattened as key, value, key, value...).
/// </summary>
public readonly struct RespValue
{
    private static readonly byte[] Ok = "OK"u8.ToArray();
    private static readonly byte[] Queued = "QUEUED"u8.ToArray();
    private static readonly byte[] Pong = "PONG"u8.ToArray();

    private readonly object? _payload;
    private readonly long _number;

    private RespValue(RespType type, object? payload, long number)
    {
        Type = type;
        _payload = payload;
        _number = number;
    }

    public RespType Type { get; }

    public static RespValue Null => new(RespType.Null, null, 0);

    public bool IsNull => Type == RespType.Null;

    public bool IsError => Type is RespType.Error or RespType.BulkError;

    public bool IsAggregate => Type is RespType.Array or RespType.Map or RespType.Set or RespType.Push;

    /// <summary>The bytes of a string-like reply (simple, bulk, verbatim without its format prefix,
    /// error, big number); empty for anything else.</summary>
    public ReadOnlySpan<byte> Span => _payload as byte[];

    /// <summary>The bytes of a string-like reply as memory the caller may keep.</summary>
    public ReadOnlyMemory<byte> Memory => _payload as byte[];

    /// <summary>Elements of an aggregate; empty for anything else.</summary>
    public ReadOnlySpan<RespValue> Items => _payload as RespValue[];

    public int Count => (_payload as RespValue[])?.Length ?? 0;

    public RespValue this[int index] => ((RespValue[])_payload!)[index];

    public long Integer => Type switch
    {
        RespType.Integer or RespType.Boolean => _number,
        RespType.Double => (long)BitConverter.Int64BitsToDouble(_number),
        _ when _payload is byte[] bytes && Utf8Parser.TryParse(bytes, out long parsed, out var used) && used == bytes.Length => parsed,
        _ => throw new InvalidCastException($"A {Type} reply is not an integer."),
    };

    public double Double => Type switch
    {
        RespType.Double => BitConverter.Int64BitsToDouble(_number),
        RespType.Integer => _number,
        _ when _payload is byte[] bytes && Utf8Parser.TryParse(bytes, out double parsed, out var used) && used == bytes.Length => parsed,
        _ => throw new InvalidCastException($"A {Type} reply is not a number."),
    };

    public bool Boolean => Type is RespType.Boolean or RespType.Integer ? _number != 0 : throw new InvalidCastException($"A {Type} reply is not a boolean.");

    /// <summary>UTF-8 text of a string-like reply, the number of a numeric one, null for null.</summary>
    public override string? ToString() => Type switch
    {
        RespType.Null => null,
        RespType.Integer => _number.ToString(System.Globalization.CultureInfo.InvariantCulture),
        RespType.Boolean => _number != 0 ? "true" : "false",
        RespType.Double => BitConverter.Int64BitsToDouble(_number).ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        _ when _payload is byte[] bytes => Encoding.UTF8.GetString(bytes),
        _ => $"{Type}[{Count}]",
    };

    internal static RespValue String(RespType type, byte[] bytes) => new(type, bytes, 0);

    internal static RespValue SimpleString(ReadOnlySpan<byte> text)
    {
        // The replies a client sees most often need no allocation.
        if (text.SequenceEqual(Ok))
        {
            return new(RespType.SimpleString, Ok, 0);
        }
        if (text.SequenceEqual(Queued))
        {
            return new(RespType.SimpleString, Queued, 0);
        }
        if (text.SequenceEqual(Pong))
        {
            return new(RespType.SimpleString, Pong, 0);
        }
        return new(RespType.SimpleString, text.ToArray(), 0);
    }

    internal static RespValue FromInteger(long value) => new(RespType.Integer, null, value);

    internal static RespValue FromBoolean(bool value) => new(RespType.Boolean, null, value ? 1 : 0);

    internal static RespValue FromDouble(double value) => new(RespType.Double, null, BitConverter.DoubleToInt64Bits(value));

    internal static RespValue Aggregate(RespType type, RespValue[] items) => new(type, items, 0);
}
