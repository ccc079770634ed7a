using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Net;
using System.Text;

namespace ManycoreMail.Smtp.Internal;

internal enum ProxyParseStatus : byte
{
    /// <summary>Too few bytes yet to decide.</summary>
    Incomplete,
    Done,
    Invalid,
}

/// <summary>What a PROXY header said. Null endpoints mean "use the connection's own" (v1 UNKNOWN, v2 LOCAL,
/// or an address family other than TCP over IPv4/IPv6).</summary>
internal readonly record struct ProxyHeader(IPEndPoint? Source, IPEndPoint? Destination);

/// <summary>
/// Parses the PROXY protocol header (HAProxy's spec, versions 1 and 2) that a load balancer sends before
/// the first byte of the client's own. Strict: anything that is not exactly a header is invalid, so a
/// client connecting directly to a listener that expects one cannot claim an address.
/// </summary>
internal static class ProxyProtocolParser
{
    /// <summary>v1: "PROXY TCP6 " + two 39-char addresses + two ports + spaces + CR LF is at most 107 bytes.</summary>
    private const int MaxV1Length = 107;
    private const int V2HeaderLength = 16;
    /// <summary>Addresses take at most 216 bytes (AF_UNIX); TLVs may follow. More than this is not a proxy.</summary>
    private const int MaxV2Payload = 2048;

    private static ReadOnlySpan<byte> V1Prefix => "PROXY "u8;
    private static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    public static ProxyParseStatus TryParse(in ReadOnlySequence<byte> buffer, out ProxyHeader header, out long consumed)
    {
        header = default;
        consumed = 0;
        Span<byte> head = stackalloc byte[V2HeaderLength];
        var headLength = (int)Math.Min(buffer.Length, V2HeaderLength);
        buffer.Slice(0, headLength).CopyTo(head);
        var start = head[..headLength];

        if (StartsLike(start, V1Prefix))
        {
            return start.Length < V1Prefix.Length ? ProxyParseStatus.Incomplete : ParseV1(buffer, out header, out consumed);
        }

        if (StartsLike(start, V2Signature))
        {
            return start.Length < V2HeaderLength ? ProxyParseStatus.Incomplete : ParseV2(buffer, start, out header, out consumed);
        }

        return ProxyParseStatus.Invalid;
    }

    /// <summary>True while <paramref name="data"/> agrees with <paramref name="prefix"/> as far as either goes.</summary>
    private static bool StartsLike(ReadOnlySpan<byte> data, ReadOnlySpan<byte> prefix)
    {
        var length = Math.Min(data.Length, prefix.Length);
        return data[..length].SequenceEqual(prefix[..length]);
    }

    private static ProxyParseStatus ParseV1(in ReadOnlySequence<byte> buffer, out ProxyHeader header, out long consumed)
    {
        header = default;
        consumed = 0;
        var window = buffer.Slice(0, Math.Min(buffer.Length, MaxV1Length));
        var lf = window.PositionOf((byte)'\n');
        if (lf is null)
        {
            return buffer.Length >= MaxV1Length ? ProxyParseStatus.Invalid : ProxyParseStatus.Incomplete;
        }

        var length = (int)window.Slice(0, lf.Value).Length + 1;
        Span<byte> line = stackalloc byte[MaxV1Length];
        window.Slice(0, length).CopyTo(line);
        line = line[..length];
        if (length < 2 || line[^2] != (byte)'\r')
        {
            return ProxyParseStatus.Invalid;
        }

        consumed = length;
        var fields = line[V1Prefix.Length..^2];
        if (fields.SequenceEqual("UNKNOWN"u8) || fields.StartsWith("UNKNOWN "u8))
        {
            // The proxy does not know the client (e.g. a health check): the connection's own addresses count.
            return ProxyParseStatus.Done;
        }

        ReadOnlySpan<byte> fieldsView = fields;
        Span<Range> parts = stackalloc Range[5];
        var count = 0;
        foreach (var range in fieldsView.Split((byte)' '))
        {
            if (count == parts.Length)
            {
                return ProxyParseStatus.Invalid;
            }

            parts[count++] = range;
        }

        if (count != 5)
        {
            return ProxyParseStatus.Invalid;
        }

        var family = fields[parts[0]];
        var wantV6 = family.SequenceEqual("TCP6"u8);
        if (!wantV6 && !family.SequenceEqual("TCP4"u8))
        {
            return ProxyParseStatus.Invalid;
        }

        if (!TryParseAddress(fields[parts[1]], wantV6, out var source)
            || !TryParseAddress(fields[parts[2]], wantV6, out var destination)
            || !TryParsePort(fields[parts[3]], out var sourcePort)
            || !TryParsePort(fields[parts[4]], out var destinationPort))
        {
            return ProxyParseStatus.Invalid;
        }

        header = new ProxyHeader(new IPEndPoint(source, sourcePort), new IPEndPoint(destination, destinationPort));
        return ProxyParseStatus.Done;
    }

    private static bool TryParseAddress(ReadOnlySpan<byte> text, bool wantV6, out IPAddress address)
    {
        address = IPAddress.None;
        if (text.IsEmpty || text.Length > 45 || text.ContainsAnyExcept("0123456789abcdefABCDEF.:"u8))
        {
            return false;
        }

        Span<char> chars = stackalloc char[45];
        var count = Encoding.ASCII.GetChars(text, chars);
        if (!IPAddress.TryParse(chars[..count], out var parsed))
        {
            return false;
        }

        var isV6 = parsed.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        if (isV6 != wantV6 || (!wantV6 && text.Count((byte)'.') != 3))
        {
            // "TCP4 1" would parse as 0.0.0.1; the spec wants the dotted quad.
            return false;
        }

        address = parsed;
        return true;
    }

    private static bool TryParsePort(ReadOnlySpan<byte> text, out int port)
    {
        port = 0;
        // The spec forbids leading zeros; a bare "0" is allowed.
        if (text.IsEmpty || text.Length > 5 || (text.Length > 1 && text[0] == (byte)'0')
            || !Utf8Parser.TryParse(text, out int value, out var used) || used != text.Length || value > 65535)
        {
            return false;
        }

        port = value;
        return true;
    }

    private static ProxyParseStatus ParseV2(in ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> head, out ProxyHeader header, out long consumed)
    {
        header = default;
        consumed = 0;
        var version = head[12] >> 4;
        var command = head[12] & 0x0F;
        var payloadLength = BinaryPrimitives.ReadUInt16BigEndian(head[14..]);
        if (version != 2 || command > 1 || payloadLength > MaxV2Payload)
        {
            return ProxyParseStatus.Invalid;
        }

        if (buffer.Length < V2HeaderLength + payloadLength)
        {
            return ProxyParseStatus.Incomplete;
        }

        consumed = V2HeaderLength + payloadLength;
        if (command == 0)
        {
            // LOCAL: the proxy's own connection (health check); addresses are ignored.
            return ProxyParseStatus.Done;
        }

        var family = head[13];
        var addressLength = family switch
        {
            0x11 => 12, // TCP over IPv4
            0x21 => 36, // TCP over IPv6
            _ => -1,
        };
        if (addressLength < 0)
        {
            // UNSPEC, UDP or UNIX: nothing we can use as a client address; the spec says keep the real one.
            return family is 0x00 or 0x12 or 0x22 or 0x31 or 0x32 ? ProxyParseStatus.Done : ProxyParseStatus.Invalid;
        }

        if (payloadLength < addressLength)
        {
            return ProxyParseStatus.Invalid;
        }

        Span<byte> addresses = stackalloc byte[36];
        buffer.Slice(V2HeaderLength, addressLength).CopyTo(addresses);
        var size = addressLength == 12 ? 4 : 16;
        var source = new IPAddress(addresses[..size]);
        var destination = new IPAddress(addresses.Slice(size, size));
        var sourcePort = BinaryPrimitives.ReadUInt16BigEndian(addresses[(2 * size)..]);
        var destinationPort = BinaryPrimitives.ReadUInt16BigEndian(addresses[(2 * size + 2)..]);
        header = new ProxyHeader(new IPEndPoint(source, sourcePort), new IPEndPoint(destination, destinationPort));
        return ProxyParseStatus.Done;
    }
}
