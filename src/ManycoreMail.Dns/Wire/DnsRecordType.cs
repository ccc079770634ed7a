namespace ManycoreMail.Dns.Wire;

/// <summary>The RR TYPE values this resolver asks for or has to understand (RFC 1035 §3.2.2, RFC 3596, RFC 6891).</summary>
internal enum DnsRecordType : ushort
{
    A = 1,
    Cname = 5,
    Soa = 6,
    Ptr = 12,
    Mx = 15,
    Txt = 16,
    Aaaa = 28,
    Opt = 41,
    Tlsa = 52,
}

/// <summary>RCODE values of the header (RFC 1035 §4.1.1).</summary>
internal enum DnsResponseCode : byte
{
    NoError = 0,
    FormatError = 1,
    ServerFailure = 2,
    NameError = 3,
    NotImplemented = 4,
    Refused = 5,
}

internal static class DnsConstants
{
    public const int HeaderLength = 12;
    public const ushort ClassInternet = 1;

    /// <summary>The largest name on the wire: labels with their length bytes plus the root byte (RFC 1035 §2.3.4).</summary>
    public const int MaxWireNameLength = 255;

    /// <summary>The EDNS0 UDP payload size recommended by DNS Flag Day 2020: fits every path's MTU without fragmentation.</summary>
    public const ushort AdvertisedUdpPayloadSize = 1232;

    public const ushort FlagResponse = 0x8000;
    public const ushort FlagTruncated = 0x0200;
    public const ushort FlagRecursionDesired = 0x0100;

    /// <summary>Authentic Data (RFC 4035 §3.2.3): the validating resolver checked every record of the answer.</summary>
    public const ushort FlagAuthenticData = 0x0020;
    public const ushort OpcodeMask = 0x7800;
    public const ushort ResponseCodeMask = 0x000F;
}
