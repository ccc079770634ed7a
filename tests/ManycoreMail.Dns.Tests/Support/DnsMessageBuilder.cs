using System.Buffers.Binary;
using System.Text;
using ManycoreMail.Dns.Wire;

namespace ManycoreMail.Dns.Tests.Support;

/// <summary>Writes DNS messages byte by byte, so tests can make any message a server could send, including
/// broken ones. Independent of the production encoder on purpose.</summary>
internal sealed class DnsMessageBuilder
{
    public const ushort ResponseFlags = 0x8180; // QR, RD, RA
    private readonly List<byte> _bytes = [];

    public int Position => _bytes.Count;

    public static DnsMessageBuilder Response(ushort id, ushort flags = ResponseFlags, ushort questions = 1, ushort answers = 0, ushort authorities = 0, ushort additionals = 0) =>
        new DnsMessageBuilder().UInt16(id).UInt16(flags).UInt16(questions).UInt16(answers).UInt16(authorities).UInt16(additionals);

    /// <summary>A response echoing the id and question section of <paramref name="query"/> (as our encoder writes it).</summary>
    public static DnsMessageBuilder ResponseTo(ReadOnlySpan<byte> query, ushort flags = ResponseFlags, ushort answers = 0, ushort authorities = 0)
    {
        var id = BinaryPrimitives.ReadUInt16BigEndian(query);
        var builder = Response(id, flags, 1, answers, authorities);
        var end = 12;
        while (query[end] != 0)
        {
            end += query[end] + 1;
        }

        return builder.Bytes(query[12..(end + 5)]);
    }

    public DnsMessageBuilder UInt16(int value)
    {
        Span<byte> buffer = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(buffer, (ushort)value);
        return Bytes(buffer);
    }

    public DnsMessageBuilder UInt32(uint value)
    {
        Span<byte> buffer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(buffer, value);
        return Bytes(buffer);
    }

    public DnsMessageBuilder Bytes(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            _bytes.Add(b);
        }

        return this;
    }

    /// <summary>Labels of <paramref name="name"/>, ending with the root unless <paramref name="thenPointer"/> is given.</summary>
    public DnsMessageBuilder Name(string name, int? thenPointer = null)
    {
        foreach (var label in name.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            var bytes = Encoding.UTF8.GetBytes(label);
            _bytes.Add((byte)bytes.Length);
            _bytes.AddRange(bytes);
        }

        return thenPointer is { } offset ? Pointer(offset) : Bytes([0]);
    }

    public DnsMessageBuilder Pointer(int offset) => UInt16(0xC000 | offset);

    public DnsMessageBuilder Question(string name, DnsRecordType type) => Name(name).UInt16((ushort)type).UInt16(1);

    /// <summary>A resource record; <paramref name="owner"/> writes the owner name, <paramref name="rdata"/> the RDATA,
    /// whose length is filled in.</summary>
    public DnsMessageBuilder Record(Action<DnsMessageBuilder> owner, DnsRecordType type, uint ttl, Action<DnsMessageBuilder> rdata, ushort recordClass = 1)
    {
        owner(this);
        UInt16((ushort)type).UInt16(recordClass).UInt32(ttl);
        var lengthAt = _bytes.Count;
        UInt16(0);
        rdata(this);
        var length = _bytes.Count - lengthAt - 2;
        _bytes[lengthAt] = (byte)(length >> 8);
        _bytes[lengthAt + 1] = (byte)length;
        return this;
    }

    /// <summary>A record owned by the question name (a pointer to offset 12).</summary>
    public DnsMessageBuilder Answer(DnsRecordType type, uint ttl, Action<DnsMessageBuilder> rdata) =>
        Record(b => b.Pointer(12), type, ttl, rdata);

    public DnsMessageBuilder Soa(Action<DnsMessageBuilder> owner, uint ttl, uint minimum) =>
        Record(owner, DnsRecordType.Soa, ttl, b => b.Name("ns.test").Name("hostmaster.test").UInt32(1).UInt32(3600).UInt32(600).UInt32(86400).UInt32(minimum));

    public DnsMessageBuilder TxtStrings(params string[] strings)
    {
        foreach (var text in strings)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            _bytes.Add((byte)bytes.Length);
            _bytes.AddRange(bytes);
        }

        return this;
    }

    public byte[] ToArray() => [.. _bytes];
}
