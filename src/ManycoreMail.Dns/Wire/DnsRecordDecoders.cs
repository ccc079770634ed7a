using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Text;

namespace ManycoreMail.Dns.Wire;

/// <summary>Turns the RDATA of one record into a value. Gets the whole message because RDATA may hold
/// compression pointers back into it.</summary>
internal delegate bool DnsRDataDecoder<T>(ReadOnlySpan<byte> message, int offset, int length, [MaybeNullWhen(false)] out T value);

/// <summary>RDATA decoders for the record types the resolver returns.</summary>
internal static class DnsRecordDecoders
{
    public static bool TryDecodeA(ReadOnlySpan<byte> message, int offset, int length, [MaybeNullWhen(false)] out IPAddress value)
    {
        value = length == 4 ? new IPAddress(message.Slice(offset, 4)) : null;
        return value is not null;
    }

    public static bool TryDecodeAaaa(ReadOnlySpan<byte> message, int offset, int length, [MaybeNullWhen(false)] out IPAddress value)
    {
        value = length == 16 ? new IPAddress(message.Slice(offset, 16)) : null;
        return value is not null;
    }

    public static bool TryDecodeMx(ReadOnlySpan<byte> message, int offset, int length, [MaybeNullWhen(false)] out MxRecord value)
    {
        value = null;
        if (length < 3)
        {
            return false;
        }

        var preference = BinaryPrimitives.ReadUInt16BigEndian(message[offset..]);
        var nameOffset = offset + 2;
        // The name may continue elsewhere through a pointer, but its in-place part must stay inside the RDATA.
        if (!DnsWireName.TryReadString(message, ref nameOffset, out var exchange) || nameOffset != offset + length)
        {
            return false;
        }

        value = new MxRecord(preference, exchange);
        return true;
    }

    /// <summary>Joins the record's character-strings (RFC 1035 §3.3.14) without separator, so a DKIM key split
    /// into 255-byte pieces comes back whole. Joined as bytes first: a split may fall inside a UTF-8 sequence.</summary>
    public static bool TryDecodeTxt(ReadOnlySpan<byte> message, int offset, int length, [MaybeNullWhen(false)] out string value)
    {
        value = null;
        var rdata = message.Slice(offset, length);
        var joined = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            var joinedLength = 0;
            var position = 0;
            while (position < rdata.Length)
            {
                var chunkLength = rdata[position];
                if (position + 1 + chunkLength > rdata.Length)
                {
                    return false;
                }

                rdata.Slice(position + 1, chunkLength).CopyTo(joined.AsSpan(joinedLength));
                joinedLength += chunkLength;
                position += 1 + chunkLength;
            }

            value = Encoding.UTF8.GetString(joined, 0, joinedLength);
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(joined);
        }
    }

    public static bool TryDecodeCname(ReadOnlySpan<byte> message, int offset, int length, [MaybeNullWhen(false)] out string value)
    {
        var nameOffset = offset;
        if (DnsWireName.TryReadString(message, ref nameOffset, out var target) && nameOffset == offset + length && target.Length > 0)
        {
            value = target;
            return true;
        }

        value = null;
        return false;
    }

    /// <summary>RFC 6698 §2.1: usage, selector and matching type octets, then the association data (at least one
    /// octet; its length for SHA-256 and SHA-512 is checked where the record is used, so an odd record is skipped
    /// there rather than failing the whole answer).</summary>
    public static bool TryDecodeTlsa(ReadOnlySpan<byte> message, int offset, int length, [MaybeNullWhen(false)] out TlsaRecord value)
    {
        value = length > 3
            ? new TlsaRecord(message[offset], message[offset + 1], message[offset + 2], message.Slice(offset + 3, length - 3).ToArray())
            : null;
        return value is not null;
    }

    /// <summary>A PTR's RDATA is one domain name, shaped like a CNAME's.</summary>
    public static bool TryDecodePtr(ReadOnlySpan<byte> message, int offset, int length, [MaybeNullWhen(false)] out string value) =>
        TryDecodeCname(message, offset, length, out value);
}
