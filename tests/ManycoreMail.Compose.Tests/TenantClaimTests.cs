using ManycoreMail.Ingress;

namespace ManycoreMail.Compose.Tests;

/// <summary>The tenant rule the JSON API applies (and the SMTP receiver will).</summary>
public sealed class TenantClaimTests
{
    [Theory]
    [InlineData(null, null, null, null)]
    [InlineData("acme", null, "acme", null)]
    [InlineData(null, "acme", "acme", null)]
    [InlineData("acme", "acme", "acme", null)]
    [InlineData("acme", "other", null, "this login sends for tenant 'acme' and may not send as 'other'")]
    public void A_login_with_a_tenant_may_send_only_as_that_tenant(string? login, string? claimed, string? tenant, string? refusal)
    {
        Assert.Equal(tenant, TenantClaim.Resolve(login, claimed, out var refused));
        Assert.Equal(refusal, refused);
    }
}
