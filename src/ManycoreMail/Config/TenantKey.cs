using ManycoreMail.Ingress;

namespace ManycoreMail.Config;

/// <summary>A configured tenant (<c>auth-logins[].tenant</c>, <c>sender/tenant</c>). It becomes part of queue names
/// and suppression scopes, so it is held to the rule the doors apply to X-Tenant (<see cref="QueueNamePart"/>).</summary>
internal static class TenantKey
{
    public const string Name = "tenant";

    public static string? Read(YamlSection section)
    {
        var tenant = section.String(Name);
        if (tenant is not null && !QueueNamePart.IsValid(tenant))
        {
            section.Error(Name, $"'{tenant}' is not a tenant name ({QueueNamePart.Rule})");
            return null;
        }
        return tenant;
    }
}
