using ManycoreMail.Config;
using ManycoreMail.Roles.MxServer;
using ManycoreMail.Suppression;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.Tests.MxServer;

/// <summary>The MX server knows only the uuid of an unsubscribe mail, so the scope comes from the configuration and
/// the sending domains that return to the unsubscribe address's domain.</summary>
public sealed class UnsubscribeScopesTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 4, 0, 0, TimeSpan.Zero);

    private static readonly DomainSettings[] Domains =
    [
        new() { Domain = "News.Example", DkimPrivateKeyFile = "k", ReturnPathDomain = "rp.example" },
        new() { Domain = "shop.example", DkimPrivateKeyFile = "k", ReturnPathDomain = "RP.example." },
        new() { Domain = "other.example", DkimPrivateKeyFile = "k", ReturnPathDomain = "rp.other.example" },
    ];

    [Fact]
    public void Global_scope_gives_one_global_entry()
    {
        var entry = Assert.Single(new UnsubscribeScopes(SuppressionScope.Global, Domains, NullLogger.Instance).For("reader@ok.test", "rp.example", Now));

        Assert.Equal(("reader@ok.test", SuppressionScope.Global, "", SuppressionReason.Unsubscribe), (entry.Email, entry.Scope, entry.Value, entry.Reason));
    }

    [Theory]
    [InlineData(SuppressionScope.Sender)]
    [InlineData(SuppressionScope.Domain)]
    [InlineData(SuppressionScope.Tenant)]
    public void Any_other_scope_gives_a_domain_entry_for_every_sending_domain_of_that_return_path_domain(SuppressionScope scope)
    {
        var entries = new UnsubscribeScopes(scope, Domains, NullLogger.Instance).For("reader@ok.test", "rp.example", Now);

        Assert.Equal([(SuppressionScope.Domain, "news.example"), (SuppressionScope.Domain, "shop.example")], entries.Select(e => (e.Scope, e.Value)).Order());
        Assert.All(entries, e => Assert.Equal(SuppressionReason.Unsubscribe, e.Reason));
    }

    [Fact]
    public void A_return_path_domain_no_sending_domain_uses_falls_back_to_a_global_entry()
    {
        var entry = Assert.Single(new UnsubscribeScopes(SuppressionScope.Sender, Domains, NullLogger.Instance).For("reader@ok.test", "extra.example", Now));

        Assert.Equal(SuppressionScope.Global, entry.Scope);
    }
}
