using System.Buffers.Binary;

namespace ManycoreMail.Dns.Wire;

/// <summary>What a received message means for the query it may answer.</summary>
internal enum DnsParseStatus
{
    /// <summary>The message answers the query; see the parsed response.</summary>
    Accepted,
    /// <summary>Not an answer to this query (other id or question, not a response): ignore it and keep waiting.</summary>
    Mismatch,
    /// <summary>It claims to answer the query but cannot be read: this attempt failed.</summary>
    Malformed,
}

/// <summary>The question a response must echo, and the id it must carry.</summary>
internal readonly record struct DnsQuestion(ushort Id, string Name, DnsRecordType Type);

/// <summary>A response reduced to what a stub resolver needs.</summary>
internal sealed class DnsResponse<T>
{
    public required DnsResponseCode ResponseCode { get; init; }

    public required bool IsTruncated { get; init; }

    /// <summary>The AD bit: the resolver vouches that it validated the answer with DNSSEC.</summary>
    public bool IsAuthenticated { get; init; }

    /// <summary>Records of the asked type owned by the end of the CNAME chain.</summary>
    public required IReadOnlyList<T> Records { get; init; }

    /// <summary>The lowest TTL among <see cref="Records"/> and the CNAMEs followed to reach them.</summary>
    public uint Ttl { get; init; }

    /// <summary>How long a negative answer may be cached (RFC 2308 §5: the lower of the SOA's TTL and its
    /// MINIMUM field); null when the authority section has no SOA, in which case it must not be cached.</summary>
    public uint? NegativeTtl { get; init; }
}

/// <summary>Parses responses (RFC 1035 §4.1) for one question without exceptions: anything out of bounds is
/// <see cref="DnsParseStatus.Malformed"/>.</summary>
internal static class DnsResponseParser
{
    /// <summary>CNAME links followed inside one answer; recursive servers give up well before this.</summary>
    public const int MaxCnameChain = 8;

    private const int RecordFixedLength = 10; // TYPE, CLASS, TTL, RDLENGTH

    public static DnsParseStatus Parse<T>(ReadOnlySpan<byte> message, in DnsQuestion question, DnsRDataDecoder<T> decoder, out DnsResponse<T>? response)
    {
        response = null;
        if (message.Length < DnsConstants.HeaderLength || BinaryPrimitives.ReadUInt16BigEndian(message) != question.Id)
        {
            return DnsParseStatus.Mismatch;
        }

        var flags = BinaryPrimitives.ReadUInt16BigEndian(message[2..]);
        if ((flags & DnsConstants.FlagResponse) == 0 || (flags & DnsConstants.OpcodeMask) != 0)
        {
            return DnsParseStatus.Mismatch;
        }

        var responseCode = (DnsResponseCode)(flags & DnsConstants.ResponseCodeMask);
        var isTruncated = (flags & DnsConstants.FlagTruncated) != 0;
        var questionCount = BinaryPrimitives.ReadUInt16BigEndian(message[4..]);
        var answerCount = BinaryPrimitives.ReadUInt16BigEndian(message[6..]);
        var authorityCount = BinaryPrimitives.ReadUInt16BigEndian(message[8..]);

        if (questionCount == 0 && responseCode is not (DnsResponseCode.NoError or DnsResponseCode.NameError))
        {
            // Some servers drop the question from error replies (FORMERR, REFUSED). Taking such a reply only ever
            // makes us fail over sooner, so a forger gains nothing from it.
            response = Empty<T>(responseCode, isTruncated);
            return DnsParseStatus.Accepted;
        }

        var position = DnsConstants.HeaderLength;
        if (questionCount != 1
            || !DnsWireName.TryReadAndCompare(message, ref position, question.Name, out var sameName)
            || position + 4 > message.Length)
        {
            return DnsParseStatus.Mismatch;
        }

        var questionType = BinaryPrimitives.ReadUInt16BigEndian(message[position..]);
        var questionClass = BinaryPrimitives.ReadUInt16BigEndian(message[(position + 2)..]);
        if (!sameName || questionType != (ushort)question.Type || questionClass != DnsConstants.ClassInternet)
        {
            return DnsParseStatus.Mismatch;
        }

        position += 4;
        if (isTruncated)
        {
            // The rest will come again over TCP; a truncated tail is expected here, not malformed.
            response = Empty<T>(responseCode, isTruncated);
            return DnsParseStatus.Accepted;
        }

        var answerStart = position;
        if (!TrySkipRecords(message, ref position, answerCount))
        {
            return DnsParseStatus.Malformed;
        }

        var authorityStart = position;
        if (!TrySkipRecords(message, ref position, authorityCount))
        {
            return DnsParseStatus.Malformed;
        }

        // The sections are known to be well formed from here on; the Try calls below still guard every read.
        var answers = message[..authorityStart];
        if (!TryFollowCnames(answers, answerStart, answerCount, question.Name, out var canonicalName, out var ttl)
            || !TryCollect(answers, answerStart, answerCount, canonicalName, question.Type, decoder, ref ttl, out var records))
        {
            return DnsParseStatus.Malformed;
        }

        response = new DnsResponse<T>
        {
            ResponseCode = responseCode,
            IsTruncated = false,
            IsAuthenticated = (flags & DnsConstants.FlagAuthenticData) != 0,
            Records = records,
            Ttl = ttl,
            NegativeTtl = records.Count == 0 ? FindNegativeTtl(message, authorityStart, authorityCount) : null,
        };
        return DnsParseStatus.Accepted;
    }

    private static DnsResponse<T> Empty<T>(DnsResponseCode responseCode, bool isTruncated) =>
        new() { ResponseCode = responseCode, IsTruncated = isTruncated, Records = [] };

    private static bool TrySkipRecords(ReadOnlySpan<byte> message, ref int position, int count)
    {
        for (var i = 0; i < count; i++)
        {
            if (!TryReadRecordHeader(message, ref position, out _, out _, out _, out var rdataLength))
            {
                return false;
            }

            position += rdataLength;
        }

        return true;
    }

    /// <summary>Reads TYPE, CLASS, TTL and RDLENGTH after the owner name at <paramref name="position"/>, leaving
    /// <paramref name="position"/> at the RDATA, which is known to lie inside the message.</summary>
    private static bool TryReadRecordHeader(ReadOnlySpan<byte> message, ref int position, out ushort type, out ushort recordClass, out uint ttl, out int rdataLength)
    {
        if (DnsWireName.TrySkip(message, ref position))
        {
            return TryReadRecordFields(message, ref position, out type, out recordClass, out ttl, out rdataLength);
        }

        type = recordClass = 0;
        ttl = 0;
        rdataLength = 0;
        return false;
    }

    /// <summary>Follows CNAMEs from the question name through the answer section.</summary>
    private static bool TryFollowCnames(ReadOnlySpan<byte> answers, int start, int count, string name, out string canonicalName, out uint ttl)
    {
        canonicalName = name;
        ttl = uint.MaxValue;
        for (var link = 0; link <= MaxCnameChain; link++)
        {
            if (!TryFindCname(answers, start, count, canonicalName, out var target, out var cnameTtl))
            {
                return false;
            }

            if (target is null)
            {
                return true;
            }

            canonicalName = target;
            ttl = Math.Min(ttl, cnameTtl);
        }

        return false; // too long, or a loop
    }

    private static bool TryFindCname(ReadOnlySpan<byte> answers, int start, int count, string owner, out string? target, out uint ttl)
    {
        target = null;
        ttl = 0;
        var position = start;
        for (var i = 0; i < count; i++)
        {
            if (!DnsWireName.TryReadAndCompare(answers, ref position, owner, out var ownedByName)
                || !TryReadRecordFields(answers, ref position, out var type, out var recordClass, out var recordTtl, out var rdataLength))
            {
                return false;
            }

            if (ownedByName && type == (ushort)DnsRecordType.Cname && recordClass == DnsConstants.ClassInternet)
            {
                ttl = recordTtl;
                return DnsRecordDecoders.TryDecodeCname(answers, position, rdataLength, out target);
            }

            position += rdataLength;
        }

        return true;
    }

    private static bool TryCollect<T>(ReadOnlySpan<byte> answers, int start, int count, string owner, DnsRecordType wanted, DnsRDataDecoder<T> decoder, ref uint ttl, out List<T> records)
    {
        records = [];
        var position = start;
        for (var i = 0; i < count; i++)
        {
            if (!DnsWireName.TryReadAndCompare(answers, ref position, owner, out var ownedByName)
                || !TryReadRecordFields(answers, ref position, out var type, out var recordClass, out var recordTtl, out var rdataLength))
            {
                return false;
            }

            if (ownedByName && type == (ushort)wanted && recordClass == DnsConstants.ClassInternet)
            {
                if (!decoder(answers, position, rdataLength, out var value))
                {
                    return false;
                }

                records.Add(value);
                ttl = Math.Min(ttl, recordTtl);
            }

            position += rdataLength;
        }

        if (records.Count == 0)
        {
            ttl = 0;
        }

        return true;
    }

    private static uint? FindNegativeTtl(ReadOnlySpan<byte> message, int start, int count)
    {
        var position = start;
        for (var i = 0; i < count; i++)
        {
            if (!TryReadRecordHeader(message, ref position, out var type, out var recordClass, out var ttl, out var rdataLength))
            {
                return null;
            }

            if (type == (ushort)DnsRecordType.Soa && recordClass == DnsConstants.ClassInternet)
            {
                // MNAME and RNAME, then SERIAL, REFRESH, RETRY, EXPIRE and MINIMUM.
                var field = position;
                if (DnsWireName.TrySkip(message, ref field) && DnsWireName.TrySkip(message, ref field) && field + 20 == position + rdataLength)
                {
                    var minimum = ClampTtl(BinaryPrimitives.ReadUInt32BigEndian(message[(field + 16)..]));
                    return Math.Min(ttl, minimum);
                }

                return null;
            }

            position += rdataLength;
        }

        return null;
    }

    /// <summary>Reads TYPE, CLASS, TTL and RDLENGTH at <paramref name="position"/>, leaving it at the RDATA,
    /// which is known to lie inside the message on success.</summary>
    private static bool TryReadRecordFields(ReadOnlySpan<byte> message, ref int position, out ushort type, out ushort recordClass, out uint ttl, out int rdataLength)
    {
        type = recordClass = 0;
        ttl = 0;
        rdataLength = 0;
        if (position + RecordFixedLength > message.Length)
        {
            return false;
        }

        type = BinaryPrimitives.ReadUInt16BigEndian(message[position..]);
        recordClass = BinaryPrimitives.ReadUInt16BigEndian(message[(position + 2)..]);
        ttl = ClampTtl(BinaryPrimitives.ReadUInt32BigEndian(message[(position + 4)..]));
        rdataLength = BinaryPrimitives.ReadUInt16BigEndian(message[(position + 8)..]);
        position += RecordFixedLength;
        return position + rdataLength <= message.Length;
    }

    /// <summary>RFC 2181 §8: a TTL with the top bit set is to be read as zero.</summary>
    private static uint ClampTtl(uint ttl) => ttl > int.MaxValue ? 0 : ttl;
}
