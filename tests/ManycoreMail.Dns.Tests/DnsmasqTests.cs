using System.Net;
using System.Net.Sockets;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Dns.Tests;

/// <summary>One dnsmasq for the whole class; it only serves what its config says.</summary>
public sealed class DnsmasqFixture : IDisposable
{
    /// <summary>A 2048-bit RSA key's DKIM record is about 410 characters: more than one 255-byte string.</summary>
    public static readonly string DkimRecord = "v=DKIM1; k=rsa; p=" + string.Concat(Enumerable.Range(0, 392).Select(i => (char)('A' + (i % 26))));

    /// <summary>Eight 200-byte TXT records: about 1.7 KB, more than the 1232 bytes a UDP answer may carry.</summary>
    public static readonly string[] BigTxt = [.. Enumerable.Range(0, 8).Select(i => $"record-{i}-" + new string((char)('a' + i), 190))];

    public DnsmasqFixture()
    {
        Server = Dnsmasq.Start(
        [
            "mx-host=example.test,mx2.example.test,20",
            "mx-host=example.test,mx1.example.test,10",
            "host-record=mx1.example.test,127.0.0.2",
            "host-record=mx2.example.test,127.0.0.3,::1",
            "host-record=implicit.test,127.0.0.9",
            "mx-host=nullmx.test,.,0",
            "mx-host=noaddr.test,gone.noaddr.test,10",
            "cname=alias.test,mx1.example.test",
            $"txt-record=dkim._domainkey.example.test,\"{DkimRecord}\"",
            .. BigTxt.Select(t => $"txt-record=big.test,\"{t}\""),
        ]);
    }

    public Dnsmasq Server { get; }

    public DnsResolverOptions Options => new() { Servers = [Server.EndPoint], Timeout = TimeSpan.FromSeconds(5), Attempts = 2 };

    public void Dispose() => Server.Dispose();
}

public sealed class DnsmasqTests(DnsmasqFixture dnsmasq) : IClassFixture<DnsmasqFixture>
{
    private DnsResolver NewResolver(DnsResolverOptions? options = null) => new(options ?? dnsmasq.Options, TimeProvider.System);

    [Fact]
    public async Task Mx_records_route_in_preference_order()
    {
        using var resolver = NewResolver();

        var route = await new MailRouter(resolver, new Random(7)).ResolveAsync("Example.Test.", default);

        Assert.True(route.Status == MailRouteStatus.Ok, $"{route.Status}: {route.Detail}\n{dnsmasq.Server.Log}");
        Assert.Equal(
            [
                new MailHost("mx1.example.test", 10, [IPAddress.Parse("127.0.0.2")]),
                new MailHost("mx2.example.test", 20, [IPAddress.Parse("127.0.0.3"), IPAddress.IPv6Loopback]),
            ],
            route.Hosts,
            MailHostComparer.Instance);
    }

    [Fact]
    public async Task Domain_without_mx_falls_back_to_its_address()
    {
        using var resolver = NewResolver();

        var mx = await resolver.ResolveMxAsync("implicit.test", default);
        var route = await new MailRouter(resolver).ResolveAsync("implicit.test", default);

        Assert.Equal(DnsStatus.NoData, mx.Status);
        Assert.Equal(MailRouteStatus.Ok, route.Status);
        var host = Assert.Single(route.Hosts);
        Assert.Equal("implicit.test", host.Name);
        Assert.Equal([IPAddress.Parse("127.0.0.9")], host.Addresses);
    }

    [Fact]
    public async Task Null_mx_is_reported()
    {
        using var resolver = NewResolver();

        var mx = await resolver.ResolveMxAsync("nullmx.test", default);
        var route = await new MailRouter(resolver).ResolveAsync("nullmx.test", default);

        Assert.True(Assert.Single(mx.Records).IsNullMx);
        Assert.Equal(MailRouteStatus.NullMx, route.Status);
    }

    [Fact]
    public async Task Unknown_domain_is_nxdomain()
    {
        using var resolver = NewResolver();

        var mx = await resolver.ResolveMxAsync("nope.test", default);
        var route = await new MailRouter(resolver).ResolveAsync("nope.test", default);

        Assert.Equal(DnsStatus.NxDomain, mx.Status);
        Assert.Equal(MailRouteStatus.NoSuchDomain, route.Status);
        Assert.Equal("domain nope.test does not exist (NXDOMAIN)", route.Detail);
    }

    [Fact]
    public async Task Mx_host_without_address_is_no_such_domain()
    {
        using var resolver = NewResolver();

        var route = await new MailRouter(resolver).ResolveAsync("noaddr.test", default);

        Assert.Equal(MailRouteStatus.NoSuchDomain, route.Status);
        Assert.Contains("gone.noaddr.test", route.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Long_txt_record_comes_back_joined()
    {
        using var resolver = NewResolver();

        var txt = await resolver.ResolveTxtAsync("dkim._domainkey.example.test", default);

        Assert.True(DnsmasqFixture.DkimRecord.Length > 255);
        Assert.Equal(DnsmasqFixture.DkimRecord, Assert.Single(txt.Records));
    }

    [Fact]
    public async Task Answer_too_big_for_udp_comes_over_tcp()
    {
        using var resolver = NewResolver();

        var txt = await resolver.ResolveTxtAsync("big.test", default);

        Assert.Equal(DnsStatus.Ok, txt.Status);
        Assert.Equal(DnsmasqFixture.BigTxt.Order(), txt.Records.Order());
    }

    [Fact]
    public async Task Cname_is_followed()
    {
        using var resolver = NewResolver();

        var addresses = await resolver.ResolveAddressesAsync("alias.test", default);

        Assert.Equal([IPAddress.Parse("127.0.0.2")], addresses.Records);
    }

    [Fact]
    public async Task Silent_server_times_out_as_temporary_failure()
    {
        using var silent = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var options = new DnsResolverOptions { Servers = [(IPEndPoint)silent.Client.LocalEndPoint!], Timeout = TimeSpan.FromMilliseconds(200), Attempts = 2 };
        using var resolver = NewResolver(options);

        var mx = await resolver.ResolveMxAsync("example.test", default);
        var route = await new MailRouter(resolver).ResolveAsync("example.test", default);

        Assert.Equal(DnsStatus.TemporaryFailure, mx.Status);
        Assert.Equal(MailRouteStatus.TemporaryFailure, route.Status);
        Assert.True(silent.Available > 0, "the queries never reached the silent server");
    }

    [Fact]
    public async Task Closed_port_is_a_temporary_failure()
    {
        var options = new DnsResolverOptions { Servers = [new IPEndPoint(IPAddress.Loopback, FreePort.UdpAndTcp())], Timeout = TimeSpan.FromSeconds(2), Attempts = 2 };
        using var resolver = NewResolver(options);

        Assert.Equal(DnsStatus.TemporaryFailure, (await resolver.ResolveTxtAsync("example.test", default)).Status);
    }

    [Fact]
    public async Task Silent_first_server_fails_over_to_the_next()
    {
        using var silent = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var options = dnsmasq.Options with { Servers = [(IPEndPoint)silent.Client.LocalEndPoint!, dnsmasq.Server.EndPoint], Timeout = TimeSpan.FromMilliseconds(200), Attempts = 1 };
        using var resolver = NewResolver(options);

        var mx = await resolver.ResolveMxAsync("example.test", default);

        Assert.Equal(DnsStatus.Ok, mx.Status);
        Assert.Equal(2, mx.Records.Count);
    }

    [Fact]
    public void Bad_config_line_is_reported_with_dnsmasqs_complaint()
    {
        var error = Assert.Throws<ArgumentException>(() => Dnsmasq.Start(["no-such-option=1"]));

        Assert.Contains("no-such-option", error.Message, StringComparison.Ordinal);
    }

    /// <summary>MailHost holds a list, which records compare by reference.</summary>
    private sealed class MailHostComparer : IEqualityComparer<MailHost>
    {
        public static readonly MailHostComparer Instance = new();

        public bool Equals(MailHost? x, MailHost? y) =>
            x is not null && y is not null && x.Name == y.Name && x.Preference == y.Preference && x.Addresses.SequenceEqual(y.Addresses);

        public int GetHashCode(MailHost obj) => obj.Name.GetHashCode(StringComparison.Ordinal);
    }
}
