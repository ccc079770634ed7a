using ManycoreMail.Ingress;

namespace ManycoreMail.Tests.Tenants;

public sealed class TenantClaimTests
{
    [Theory]
    [InlineData("acme", null, "acme")]
    [InlineData("acme", "", "acme")]
    [InlineData("acme", "acme", "acme")]
    [InlineData(null, "other", "other")]
    [InlineData(null, null, null)]
    public void The_tenant_is_the_logins_or_the_claimed_one(string? login, string? claimed, string? expected)
    {
        Assert.True(TenantClaim.TryResolve(login, claimed, out var tenant, out _));
        Assert.Equal(expected, tenant);
    }

    [Fact]
    public void A_login_with_a_tenant_may_not_send_for_another()
    {
        Assert.False(TenantClaim.TryResolve("acme", "other", out var tenant, out var refusal));

        Assert.Null(tenant);
        Assert.Equal((550, "5.7.1"), (refusal.SmtpCode, refusal.EnhancedStatus));
        Assert.Equal("login acme may not send for tenant other", refusal.Message);
    }

    [Fact]
    public void Tenants_are_compared_exactly()
    {
        Assert.False(TenantClaim.TryResolve("acme", "ACME", out _, out _));
    }

    [Theory]
    [InlineData("acme", true)]
    [InlineData("Acme.EU_2-x", true)]
    [InlineData("", false)]
    [InlineData("a:b", false)]
    [InlineData("a@b", false)]
    [InlineData("a b", false)]
    [InlineData("é", false)]
    [InlineData("a*", false)]
    public void Tenant_and_campaign_names_exclude_the_queue_name_separators(string value, bool valid) =>
        Assert.Equal(valid, QueueNamePart.IsValid(value));

    [Fact]
    public void Names_are_at_most_64_characters()
    {
        Assert.True(QueueNamePart.IsValid(new string('a', 64)));
        Assert.False(QueueNamePart.IsValid(new string('a', 65)));
        Assert.False(QueueNamePart.IsValid(null));
    }
}
