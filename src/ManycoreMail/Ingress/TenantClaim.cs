namespace ManycoreMail.Ingress;

/// <summary>
/// Which tenant a submission is for: the one it names (the API's <c>tenant</c>, an <c>X-Tenant</c> header) or, when it
/// names none, its login's. A login bound to a tenant may not send as another one: that would put its mail in another
/// customer's queues, suppression scope and events.
/// </summary>
internal static class TenantClaim
{
    /// <summary>The tenant to use (null when neither names one), or null with <paramref name="refusal"/> set when the
    /// submission claims a tenant its login does not have.</summary>
    public static string? Resolve(string? loginTenant, string? claimed, out string? refusal)
    {
        refusal = null;
        if (claimed is null)
        {
            return loginTenant;
        }
        if (loginTenant is not null && !string.Equals(loginTenant, claimed, StringComparison.Ordinal))
        {
            refusal = $"this login sends for tenant '{loginTenant}' and may not send as '{claimed}'";
            return null;
        }
        return claimed;
    }
}
