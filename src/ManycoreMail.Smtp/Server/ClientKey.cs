using System.Net;
using System.Net.Sockets;

namespace ManycoreMail.Smtp.Server;

/// <summary>The unit per-client limits count: an IPv4 address, or the /64 network of an IPv6 address.</summary>
/// <remarks>
/// An IPv6 subscriber is routed a whole /64 (often more) and may pick any address in it, so counting IPv6
/// addresses one by one would let a single client open 2^64 times the per-client limit. An IPv4-mapped IPv6
/// address is the IPv4 client it maps, whichever socket family it arrived on.
/// </remarks>
public static class ClientKey
{
    private const int InterfaceIdentifierOffset = 8;

    public static IPAddress Of(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[InterfaceIdentifierOffset..].Clear();
        // The scope id is dropped on purpose: fe80::1%eth0 and fe80::1%eth1 are one client network here.
        return new IPAddress(bytes);
    }
}
