using System.Net;
using ManycoreMail.Dns.Tests.Support;
using static ManycoreMail.Dns.Tests.Support.FakeDnsResolver;

namespace ManycoreMail.Dns.Tests;

public sealed class MailRouterTests
{
    private static readonly IPAddress Mx1 = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress Mx2 = IPAddress.Parse("127.0.0.3");
    private static readonly IPAddress Mx3 = IPAddress.Parse("127.0.0.4");

    private readonly FakeDnsResolver _dns = new();

    private ValueTask<MailRoute> Route(string domain, int seed = 1) =>
        new MailRouter(_dns, new Random(seed)).ResolveAsync(domain, CancellationToken.None);

    [Fact]
    public async Task Hosts_come_in_preference_order_with_their_addresses()
    {
        _dns.Mx["example.test"] = Ok(new MxRecord(30, "mx3.example.test"), new MxRecord(10, "mx1.example.test"), new MxRecord(20, "mx2.example.test"));
        _dns.Addresses["mx1.example.test"] = Ok(Mx1);
        _dns.Addresses["mx2.example.test"] = Ok(Mx2, IPAddress.IPv6Loopback);
        _dns.Addresses["mx3.example.test"] = Ok(Mx3);

        var route = await Route("example.test");

        Assert.Equal(MailRouteStatus.Ok, route.Status);
        Assert.Equal(["mx1.example.test", "mx2.example.test", "mx3.example.test"], route.Hosts.Select(h => h.Name));
        Assert.Equal([(ushort)10, (ushort)20, (ushort)30], route.Hosts.Select(h => h.Preference));
        Assert.Equal([Mx2, IPAddress.IPv6Loopback], route.Hosts[1].Addresses);
    }

    [Fact]
    public async Task Equal_preferences_are_shuffled_by_the_random_given_and_stay_behind_better_ones()
    {
        _dns.Mx["example.test"] = Ok(new MxRecord(20, "b.example.test"), new MxRecord(20, "a.example.test"), new MxRecord(20, "c.example.test"), new MxRecord(5, "first.example.test"));
        foreach (var host in new[] { "a", "b", "c", "first" })
        {
            _dns.Addresses[host + ".example.test"] = Ok(Mx1);
        }

        var orders = new HashSet<string>();
        for (var seed = 0; seed < 20; seed++)
        {
            var route = await Route("example.test", seed);
            Assert.Equal("first.example.test", route.Hosts[0].Name);
            Assert.Equal(["a.example.test", "b.example.test", "c.example.test"], route.Hosts.Skip(1).Select(h => h.Name).Order());
            orders.Add(string.Join(",", route.Hosts.Select(h => h.Name)));

            var again = await Route("example.test", seed);
            Assert.Equal(route.Hosts.Select(h => h.Name), again.Hosts.Select(h => h.Name)); // same seed, same order
        }

        Assert.True(orders.Count > 1, "equal preferences were never reordered");
    }

    [Fact]
    public async Task Null_mx_means_no_mail()
    {
        _dns.Mx["nullmx.test"] = Ok(new MxRecord(0, ""));

        var route = await Route("nullmx.test");

        Assert.Equal(MailRouteStatus.NullMx, route.Status);
        Assert.Empty(route.Hosts);
        Assert.Contains("Null MX", route.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(_dns.Asked, a => a.StartsWith("A ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Nxdomain_is_no_such_domain_with_a_bounce_worthy_detail()
    {
        var route = await Route("Nope.Test.");

        Assert.Equal(MailRouteStatus.NoSuchDomain, route.Status);
        Assert.Equal("domain nope.test does not exist (NXDOMAIN)", route.Detail);
    }

    [Fact]
    public async Task Mx_temporary_failure_defers()
    {
        _dns.Mx["example.test"] = Status<MxRecord>(DnsStatus.TemporaryFailure);
        _dns.Addresses["example.test"] = Ok(Mx1);

        var route = await Route("example.test");

        Assert.Equal(MailRouteStatus.TemporaryFailure, route.Status);
        Assert.Contains("example.test", route.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_mx_falls_back_to_the_domains_own_addresses()
    {
        _dns.Mx["implicit.test"] = Status<MxRecord>(DnsStatus.NoData);
        _dns.Addresses["implicit.test"] = Ok(Mx1, IPAddress.IPv6Loopback);

        var route = await Route("implicit.test");

        Assert.Equal(MailRouteStatus.Ok, route.Status);
        var host = Assert.Single(route.Hosts);
        Assert.Equal(new MailHost("implicit.test", 0, host.Addresses), host);
        Assert.Equal([Mx1, IPAddress.IPv6Loopback], host.Addresses);
        Assert.Contains("implicit MX", route.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DnsStatus.NoData, MailRouteStatus.NoSuchDomain)]
    [InlineData(DnsStatus.NxDomain, MailRouteStatus.NoSuchDomain)]
    [InlineData(DnsStatus.TemporaryFailure, MailRouteStatus.TemporaryFailure)]
    public async Task No_mx_and_no_address(DnsStatus addressStatus, MailRouteStatus expected)
    {
        _dns.Mx["bare.test"] = Status<MxRecord>(DnsStatus.NoData);
        _dns.Addresses["bare.test"] = Status<IPAddress>(addressStatus);

        var route = await Route("bare.test");

        Assert.Equal(expected, route.Status);
        Assert.Empty(route.Hosts);
    }

    [Fact]
    public async Task Hosts_without_addresses_are_skipped_and_named_in_the_detail()
    {
        _dns.Mx["example.test"] = Ok(new MxRecord(10, "dead.example.test"), new MxRecord(20, "slow.example.test"), new MxRecord(30, "mx3.example.test"));
        _dns.Addresses["slow.example.test"] = Status<IPAddress>(DnsStatus.TemporaryFailure);
        _dns.Addresses["mx3.example.test"] = Ok(Mx3);

        var route = await Route("example.test");

        Assert.Equal(MailRouteStatus.Ok, route.Status);
        Assert.Equal("mx3.example.test", Assert.Single(route.Hosts).Name);
        Assert.Contains("dead.example.test", route.Detail, StringComparison.Ordinal);
        Assert.Contains("slow.example.test", route.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_host_failing_temporarily_defers()
    {
        _dns.Mx["example.test"] = Ok(new MxRecord(10, "mx1.example.test"), new MxRecord(20, "mx2.example.test"));
        _dns.Addresses["mx1.example.test"] = Status<IPAddress>(DnsStatus.TemporaryFailure);
        _dns.Addresses["mx2.example.test"] = Status<IPAddress>(DnsStatus.NoData);

        var route = await Route("example.test");

        Assert.Equal(MailRouteStatus.TemporaryFailure, route.Status);
    }

    [Fact]
    public async Task Every_host_without_address_is_no_such_domain()
    {
        _dns.Mx["example.test"] = Ok(new MxRecord(10, "mx1.example.test"), new MxRecord(20, "mx2.example.test"));
        _dns.Addresses["mx2.example.test"] = Status<IPAddress>(DnsStatus.NoData);

        var route = await Route("example.test");

        Assert.Equal(MailRouteStatus.NoSuchDomain, route.Status);
        Assert.Contains("mx1.example.test", route.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Domain_is_normalized_and_idn_becomes_an_a_label()
    {
        _dns.Mx["xn--bcher-kva.test"] = Ok(new MxRecord(10, "MX.Bücher.Test."));
        _dns.Addresses["mx.xn--bcher-kva.test"] = Ok(Mx1);

        var route = await Route("Bücher.TEST.");

        Assert.Equal(MailRouteStatus.Ok, route.Status);
        Assert.Equal("mx.xn--bcher-kva.test", Assert.Single(route.Hosts).Name);
        Assert.Equal(["MX xn--bcher-kva.test", "A mx.xn--bcher-kva.test"], _dns.Asked);
    }

    [Fact]
    public async Task Repeated_exchange_is_tried_once_at_its_best_preference()
    {
        _dns.Mx["example.test"] = Ok(new MxRecord(20, "mx1.example.test"), new MxRecord(10, "mx1.example.test"));
        _dns.Addresses["mx1.example.test"] = Ok(Mx1);

        var route = await Route("example.test");

        Assert.Equal((ushort)10, Assert.Single(route.Hosts).Preference);
    }

    [Fact]
    public async Task Invalid_domain_is_no_such_domain_without_a_query()
    {
        var route = await Route("a..b");

        Assert.Equal(MailRouteStatus.NoSuchDomain, route.Status);
        Assert.Empty(_dns.Asked);
    }

    [Fact]
    public async Task Mx_set_naming_no_usable_host_is_not_mistaken_for_null_mx()
    {
        _dns.Mx["odd.test"] = Ok(new MxRecord(10, @"bad\032name.test"));

        var route = await Route("odd.test");

        Assert.Equal(MailRouteStatus.NoSuchDomain, route.Status);
    }

    [Fact]
    public async Task Null_mx_beside_real_hosts_is_ignored()
    {
        _dns.Mx["mixed.test"] = Ok(new MxRecord(0, ""), new MxRecord(10, "mx1.mixed.test"));
        _dns.Addresses["mx1.mixed.test"] = Ok(Mx1);

        var route = await Route("mixed.test");

        Assert.Equal(MailRouteStatus.Ok, route.Status);
        Assert.Equal("mx1.mixed.test", Assert.Single(route.Hosts).Name);
    }
}
