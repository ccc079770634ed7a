using System.Net;

namespace ManycoreMail.Roles.Tracker;

/// <summary>
/// The client of a request: the TCP peer, unless the peer is one of <c>tracking/trusted-proxies</c> (the TLS
/// terminator or load balancer in front of the tracker), in which case the rightmost address of
/// <c>X-Forwarded-For</c> that is not itself a trusted proxy. Addresses further left were written by whoever sent
/// the request and prove nothing, so they are never taken over one a trusted proxy added.
/// </summary>
internal sealed class ForwardedClient(IReadOnlyList<IPNetwork> trustedProxies)
{
    public IPAddress? Resolve(IPAddress? peer, IEnumerable<string?> forwardedFor)
    {
        peer = Plain(peer);
        if (peer is null || !IsTrusted(peer))
        {
            return peer;
        }
        var hops = forwardedFor
            .SelectMany(header => (header ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            .ToArray();
        var client = peer;
        for (var i = hops.Length - 1; i >= 0; i--)
        {
            if (!IPAddress.TryParse(hops[i], out var hop))
            {
                // A hop we cannot read (garbage, "unknown"): the last one we could is as far as we know.
                break;
            }
            client = Plain(hop)!;
            if (!IsTrusted(client))
            {
                break;
            }
        }
        return client;
    }

    private bool IsTrusted(IPAddress address)
    {
        foreach (var network in trustedProxies)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }
        return false;
    }

    private static IPAddress? Plain(IPAddress? address) => address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;
}
