namespace ManycoreMail.Roles.Sender;

/// <summary>KumoMTA's scheduled queue name: <c>campaign:tenant@domain</c>, each of campaign and tenant dropped with
/// its separator when unset.</summary>
internal static class ScheduledQueueName
{
    public static string Of(string? campaign, string? tenant, string domain)
    {
        var hasCampaign = !string.IsNullOrWhiteSpace(campaign);
        var hasTenant = !string.IsNullOrWhiteSpace(tenant);
        return (hasCampaign, hasTenant) switch
        {
            (true, true) => $"{campaign}:{tenant}@{domain}",
            (true, false) => $"{campaign}:{domain}",
            (false, true) => $"{tenant}@{domain}",
            _ => domain,
        };
    }
}
