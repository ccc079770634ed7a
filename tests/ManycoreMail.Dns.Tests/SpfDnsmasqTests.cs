using System.Net;
using System.Net.Sockets;
using ManycoreMail.Dns.Spf;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Dns.Tests;

/// <summary>SPF through the real resolver against a real dnsmasq on loopback.</summary>
public sealed class SpfDnsmasqFixture : IDisposable
{
    public SpfDnsmasqFixture()
    {
        Server = Dnsmasq.Start(
        [
            "txt-record=spf.test,\"v=spf1 ip4:127.0.1.0/24 mx a:relay.spf.test include:_spf.partner.test -ip4:127.0.9.9 ~all\"",
            "txt-record=spf.test,\"some other text\"",
            "txt-record=_spf.partner.test,\"v=spf1 ptr:partner.test -all\"",
            "mx-host=spf.test,mx.spf.test,10",
            "host-record=mx.spf.test,127.0.2.1",
            "host-record=relay.spf.test,127.0.3.1,::5",
            "host-record=out.partner.test,127.0.4.1",
            "ptr-record=1.4.0.127.in-addr.arpa,out.partner.test",
            "txt-record=strict.test,\"v=spf1 a:relay.spf.test -all\"",
        ]);
    }

    public Dnsmasq Server { get; }

    public DnsResolver NewResolver() =>
        new(new DnsResolverOptions { Servers = [Server.EndPoint], Timeout = TimeSpan.FromSeconds(5), Attempts = 2 }, TimeProvider.System);

    public void Dispose() => Server.Dispose();
}

public sealed class SpfDnsmasqTests(SpfDnsmasqFixture dnsmasq) : IClassFixture<SpfDnsmasqFixture>
{
    [Theory]
    [InlineData("127.0.1.77", "joe@spf.test", SpfResult.Pass)] // ip4
    [InlineData("127.0.2.1", "joe@spf.test", SpfResult.Pass)] // mx
    [InlineData("127.0.3.1", "joe@spf.test", SpfResult.Pass)] // a:
    [InlineData("::5", "joe@spf.test", SpfResult.Pass)] // a: over AAAA
    [InlineData("127.0.4.1", "joe@spf.test", SpfResult.Pass)] // include, then ptr validated by A
    [InlineData("127.0.9.9", "joe@spf.test", SpfResult.Fail)]
    [InlineData("127.0.5.5", "joe@spf.test", SpfResult.SoftFail)]
    [InlineData("127.0.5.5", "joe@strict.test", SpfResult.Fail)]
    [InlineData("127.0.3.1", "joe@strict.test", SpfResult.Pass)]
    [InlineData("127.0.3.1", "joe@nothing.test", SpfResult.None)]
    public async Task Policies_served_by_dnsmasq(string client, string mailFrom, SpfResult expected)
    {
        using var resolver = dnsmasq.NewResolver();

        var verdict = await new SpfEvaluator(resolver).CheckAsync(IPAddress.Parse(client), "helo.test", mailFrom, CancellationToken.None);

        Assert.True(expected == verdict.Result, $"{verdict}\n{dnsmasq.Server.Log}");
    }

    [Fact]
    public async Task Resolver_answers_ptr_and_one_address_family()
    {
        using var resolver = dnsmasq.NewResolver();

        var names = await resolver.ResolvePtrAsync(IPAddress.Parse("127.0.4.1"), CancellationToken.None);
        var v6 = await resolver.ResolveAddressesAsync("relay.spf.test", AddressFamily.InterNetworkV6, CancellationToken.None);
        var v4OfV6Less = await resolver.ResolveAddressesAsync("mx.spf.test", AddressFamily.InterNetworkV6, CancellationToken.None);

        Assert.Equal(["out.partner.test"], names.Records);
        Assert.Equal([IPAddress.Parse("::5")], v6.Records);
        Assert.Equal(DnsStatus.NoData, v4OfV6Less.Status);
    }
}
