namespace ManycoreMail.Ingress;

/// <summary>
/// Which tenant a submission sends for, given the login it came through and the tenant it names itself (the API's
/// <c>tenant</c>, or the message's <c>X-Tenant</c>). A login bound to a tenant may send only for that tenant, so that one
/// customer's login cannot spend another's reputation or leave its suppression scope.
/// </summary>
internal static class TenantClaim
{
    /// <param name="loginTenant">The login's <c>auth-logins[].tenant</c>; null for a login without one, or no login at all
    /// (a trusted network).</param>
    /// <param name="claimedTenant">The tenant the submission names; null or empty when it names none.</param>
    /// <param name="tenant">The tenant to send for; null when neither names one.</param>
    public static bool TryResolve(string? loginTenant, string? claimedTenant, out string? tenant, out IngressRefusal refusal)
    {
        refusal = null!;
        var claimed = string.IsNullOrEmpty(claimedTenant) ? null : claimedTenant;
        if (loginTenant is null || claimed is null || string.Equals(loginTenant, claimed, StringComparison.Ordinal))
        {
            tenant = loginTenant ?? claimed;
            return true;
        }
        tenant = null;
        refusal = new IngressRefusal($"login {loginTenant} may not send for tenant {claimed}", 550, "5.7.1");
        return false;
    }
}
