using System.Buffers.Binary;

namespace ManycoreMail.Dns.Wire;

/// <summary>Encodes a standard recursive query with one question (RFC 1035 §4.1) and, optionally, an EDNS0 OPT
/// record (RFC 6891) advertising <see cref="DnsConstants.AdvertisedUdpPayloadSize"/>.</summary>
internal static class DnsQueryWriter
{
    private const int QuestionTail = 4; // QTYPE, QCLASS
    private const int OptRecordLength = 11; // root name, TYPE, CLASS, TTL, RDLENGTH

    public const int MaxQueryLength = DnsConstants.HeaderLength + DnsConstants.MaxWireNameLength + QuestionTail + OptRecordLength;

    /// <summary>Writes the query and returns its length, or -1 when <paramref name="name"/> cannot be encoded.</summary>
    public static int Write(Span<byte> destination, ushort id, string name, DnsRecordType type, bool useEdns)
    {
        if (destination.Length < MaxQueryLength)
        {
            throw new ArgumentException("The buffer is smaller than the largest query.", nameof(destination));
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination, id);
        // AD set in a query asks a validating resolver to say whether it validated the answer (RFC 6840 §5.7),
        // without the RRSIG records that the DO bit would bring and that a stub does not check itself.
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], DnsConstants.FlagRecursionDesired | DnsConstants.FlagAuthenticData);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], 1); // QDCOUNT
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], 0); // ANCOUNT
        BinaryPrimitives.WriteUInt16BigEndian(destination[8..], 0); // NSCOUNT
        BinaryPrimitives.WriteUInt16BigEndian(destination[10..], (ushort)(useEdns ? 1 : 0)); // ARCOUNT

        var position = DnsConstants.HeaderLength;
        var nameLength = DnsWireName.Write(name, destination.Slice(position, DnsConstants.MaxWireNameLength + 1));
        if (nameLength < 0 || nameLength > DnsConstants.MaxWireNameLength)
        {
            return -1;
        }

        position += nameLength;
        BinaryPrimitives.WriteUInt16BigEndian(destination[position..], (ushort)type);
        BinaryPrimitives.WriteUInt16BigEndian(destination[(position + 2)..], DnsConstants.ClassInternet);
        position += QuestionTail;

        if (useEdns)
        {
            destination[position] = 0; // root owner name
            BinaryPrimitives.WriteUInt16BigEndian(destination[(position + 1)..], (ushort)DnsRecordType.Opt);
            // For OPT, CLASS carries the requester's UDP payload size and TTL the extended RCODE, version and
            // flags; all zero: version 0, no DNSSEC records wanted.
            BinaryPrimitives.WriteUInt16BigEndian(destination[(position + 3)..], DnsConstants.AdvertisedUdpPayloadSize);
            BinaryPrimitives.WriteUInt32BigEndian(destination[(position + 5)..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(destination[(position + 9)..], 0);
            position += OptRecordLength;
        }

        return position;
    }
}
