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

    /// <summary>Whether <paramref name="queue"/> matches an operator's pattern: the exact name, or a prefix ending in
    /// '*' ("spring:*" is every queue of campaign spring, "*" every queue).</summary>
    public static bool Matches(string pattern, string queue) => pattern.EndsWith('*')
        ? queue.StartsWith(pattern.AsSpan(0, pattern.Length - 1), StringComparison.OrdinalIgnoreCase)
        : string.Equals(queue, pattern, StringComparison.OrdinalIgnoreCase);
}
