using System.Net;
using ManycoreMail.Roles.Tracker;

namespace ManycoreMail.Tests.Tracker;

/// <summary>X-Forwarded-For is believed only from a trusted proxy, and only as far as the first hop it did not write.</summary>
public sealed class ForwardedClientTests
{
    private static readonly ForwardedClient Behind = new([IPNetwork.Parse("10.0.0.0/8")]);
    private static readonly IPAddress Proxy = IPAddress.Parse("10.0.0.1");

    [Fact]
    public void An_untrusted_peer_is_the_client_whatever_it_claims()
    {
        Assert.Equal(IPAddress.Parse("203.0.113.7"), Behind.Resolve(IPAddress.Parse("203.0.113.7"), ["17.1.2.3"]));
        Assert.Equal(Proxy, new ForwardedClient([]).Resolve(Proxy, ["17.1.2.3"]));
    }

    [Theory]
    [InlineData("17.1.2.3", "17.1.2.3")]
    [InlineData("198.51.100.9, 17.1.2.3", "17.1.2.3")]
    [InlineData("17.1.2.3, 10.0.0.2", "17.1.2.3")]
    [InlineData("17.1.2.3,10.9.9.9, 10.0.0.2", "17.1.2.3")]
    [InlineData("not-an-address, 203.0.113.7", "203.0.113.7")]
    [InlineData("2001:db8::1", "2001:db8::1")]
    public void Behind_a_trusted_proxy_the_rightmost_hop_it_did_not_write_is_the_client(string header, string client)
    {
        Assert.Equal(IPAddress.Parse(client), Behind.Resolve(Proxy, [header]));
        Assert.Equal(IPAddress.Parse(client), Behind.Resolve(Proxy.MapToIPv6(), [header]));
    }

    [Fact]
    public void Several_headers_are_one_list_and_no_header_leaves_the_proxy()
    {
        Assert.Equal(IPAddress.Parse("17.1.2.3"), Behind.Resolve(Proxy, ["198.51.100.9", "17.1.2.3"]));
        Assert.Equal(Proxy, Behind.Resolve(Proxy, []));
        Assert.Equal(Proxy, Behind.Resolve(Proxy, ["203.0.113.7, unknown"]));
    }
}
