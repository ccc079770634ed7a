using System.Buffers.Text;
using ManycoreMail.Queue.Embedded;

namespace ManycoreMail.Queue.Redis;

/// <summary>
/// Our metadata for one item, kept beside the raw bytes: "id:attempts:createdMs:envelopeJson".
/// Text, so that redis-cli shows it; the envelope is the same JSON the embedded spool stores, and
/// empty for an empty envelope (events and foreign items).
/// </summary>
internal readonly record struct RedisItemMeta(long Id, int Attempts, long CreatedAtMs, MessageEnvelope Envelope)
{
    public static RedisItemMeta Parse(ReadOnlySpan<byte> meta)
    {
        var id = ReadNumber(ref meta);
        var attempts = ReadNumber(ref meta);
        var created = ReadNumber(ref meta);
        var envelope = meta.IsEmpty ? MessageEnvelope.Empty : EnvelopeCodec.Decode(meta);
        return new RedisItemMeta(id, checked((int)attempts), created, envelope);
    }

    /// <summary>Everything after the id ("attempts:createdMs:json"), the part the enqueue script prefixes
    /// with the id it assigns.</summary>
    public static byte[] EncodeWithoutId(int attempts, long createdAtMs, MessageEnvelope envelope)
    {
        var json = EncodeEnvelope(envelope);
        Span<byte> head = stackalloc byte[48];
        var length = WriteNumber(head, attempts);
        length += WriteNumber(head[length..], createdAtMs);
        var encoded = GC.AllocateUninitializedArray<byte>(length + json.Length);
        head[..length].CopyTo(encoded);
        json.CopyTo(encoded.AsSpan(length));
        return encoded;
    }

    public byte[] Encode()
    {
        var json = EncodeEnvelope(Envelope);
        Span<byte> head = stackalloc byte[72];
        var length = WriteNumber(head, Id);
        length += WriteNumber(head[length..], Attempts);
        length += WriteNumber(head[length..], CreatedAtMs);
        var encoded = GC.AllocateUninitializedArray<byte>(length + json.Length);
        head[..length].CopyTo(encoded);
        json.CopyTo(encoded.AsSpan(length));
        return encoded;
    }

    private static ReadOnlySpan<byte> EncodeEnvelope(MessageEnvelope envelope) =>
        IsEmpty(envelope) ? [] : EnvelopeCodec.Encode(envelope);

    private static bool IsEmpty(MessageEnvelope envelope) =>
        ReferenceEquals(envelope, MessageEnvelope.Empty)
        || (envelope.Uuid is null && envelope.Campaign is null && envelope.Tenant is null && envelope.ReturnPath is null && envelope.BodyFormat is null
            && envelope.Dsn is null && envelope.Smtputf8 is null
            && envelope.Recipients.Count == 0);

    private static int WriteNumber(Span<byte> destination, long value)
    {
        Utf8Formatter.TryFormat(value, destination, out var written);
        destination[written] = (byte)':';
        return written + 1;
    }

    private static long ReadNumber(ref ReadOnlySpan<byte> meta)
    {
        var colon = meta.IndexOf((byte)':');
        if (colon < 0 || !Utf8Parser.TryParse(meta[..colon], out long value, out var used) || used != colon)
        {
            throw new InvalidDataException("Malformed queue item metadata in Redis.");
        }
        meta = meta[(colon + 1)..];
        return value;
    }
}
