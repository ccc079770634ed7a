using ManycoreMail.Delivery;

namespace ManycoreMail.Delivery.Tests;

public sealed class TrafficShapingTests
{
    private static readonly TrafficShaping Shipped = new(SiteLimits.Default, ShippedShaping.Rules);

    [Theory]
    [InlineData("orange.fr", "smtp-in.orange.fr")]
    [InlineData("wanadoo.fr", "smtp-in.orange.fr")]
    [InlineData("laposte.net", "smtp-in.laposte.net")]
    [InlineData("free.fr", "mx1.free.fr")]
    [InlineData("some-company.fr", "mx1.free.fr")]
    public void French_isps_get_the_originals_slow_transport(string domain, string mx)
    {
        var limits = Shipped.LimitsFor(domain, [mx]);

        Assert.Equal(3, limits.MaxConnections);
        Assert.Equal(20, limits.MaxRecipientsPerMessage);
        Assert.Equal(TimeSpan.FromSeconds(5), limits.DelayBetweenDeliveries);
    }

    [Fact]
    public void Domains_hosted_by_google_get_the_gmail_limits_by_their_mx()
    {
        var limits = Shipped.LimitsFor("startup.example", ["aspmx.l.google.com", "alt1.aspmx.l.google.com"]);

        Assert.Equal(50, limits.MaxDeliveriesPerConnection);
    }

    [Fact]
    public void A_suffix_matches_whole_labels_only()
    {
        var limits = Shipped.LimitsFor("example.com", ["mx.notgoogle.com"]);

        Assert.Equal(SiteLimits.Default, limits);
    }

    [Fact]
    public void When_several_rules_match_the_smallest_limit_of_each_kind_wins()
    {
        var shaping = new TrafficShaping(SiteLimits.Default with { MaxConnections = 8 },
        [
            new ShapingRule("a", ["x.test"], [], SiteLimits.Default with { MaxConnections = 5, MessagesPerMinute = 100 }),
            new ShapingRule("b", [], ["mx.test"], SiteLimits.Default with { MaxConnections = 50, MessagesPerMinute = 30, DelayBetweenDeliveries = TimeSpan.FromSeconds(1) }),
        ]);

        var limits = shaping.LimitsFor("x.test", ["a.mx.test"]);

        Assert.Equal(5, limits.MaxConnections);
        Assert.Equal(30, limits.MessagesPerMinute);
        Assert.Equal(TimeSpan.FromSeconds(1), limits.DelayBetweenDeliveries);
    }
}
