namespace ManycoreMail.Delivery;

/// <summary>KumoMTA's scheduled queue name: <c>campaign:tenant@domain</c>, each of campaign and tenant dropped with
/// its separator when unset.</summary>
internal static class ScheduledQueueName
{
    public static string Of(string? campaign, string? tenant, string domain)
    {
        campaign = SafeCampaign(campaign);
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

    /// <summary>The campaign, tenant and domain a name is made of (null for a part it does not have); the inverse of
    /// <see cref="Of"/>, since campaigns and tenants hold neither ':' nor '@'.</summary>
    public static (string? Campaign, string? Tenant, string Domain) Parts(string queue)
    {
        var at = queue.LastIndexOf('@');
        var head = at < 0 ? queue : queue[..at];
        var colon = head.IndexOf(':');
        var campaign = colon < 0 ? null : head[..colon];
        return at < 0
            ? (campaign, null, queue[(colon + 1)..])
            : (campaign, head[(colon + 1)..], queue[(at + 1)..]);
    }

    /// <summary>An operator's pattern for the queues of a tenant and/or campaign (<c>mailer queue suspend --tenant T</c>):
    /// every other part a wildcard.</summary>
    public static string PatternFor(string? campaign, string? tenant) => tenant is null
        ? $"{campaign ?? "*"}:*@*"
        : $"{campaign ?? "*"}:{tenant}@*";

    /// <summary>The campaign as a queue name can hold it. A tenant and an X-Campaign are checked at the door, but the
    /// original's X-Stream-Id never was: its separators (':' and '@'), spaces and the like become '_', and it is cut
    /// to 64 characters, so that a name always splits back into its parts.</summary>
    private static string? SafeCampaign(string? campaign)
    {
        if (string.IsNullOrWhiteSpace(campaign))
        {
            return campaign;
        }
        var safe = campaign.Length > 64 ? campaign[..64] : campaign;
        return string.Create(safe.Length, safe, static (span, source) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                var c = source[i];
                span[i] = char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_';
            }
        });
    }

    /// <summary>Whether <paramref name="queue"/> matches an operator's pattern: the exact name; a prefix ending in '*'
    /// ("spring:*" is every queue of campaign spring, "*" every queue); or, with a '*' elsewhere, part by part, where a
    /// part "*" matches any value or none and any other part matches only itself ("*:acme@*" is every queue of tenant
    /// acme, with or without a campaign; "*:*@gmail.com" every queue of gmail.com).</summary>
    public static bool Matches(string pattern, string queue)
    {
        var star = pattern.IndexOf('*');
        if (star < 0)
        {
            return string.Equals(queue, pattern, StringComparison.OrdinalIgnoreCase);
        }
        if (star == pattern.Length - 1)
        {
            return queue.StartsWith(pattern.AsSpan(0, star), StringComparison.OrdinalIgnoreCase);
        }
        var (campaign, tenant, domain) = Parts(pattern);
        var actual = Parts(queue);
        return PartMatches(campaign, actual.Campaign) && PartMatches(tenant, actual.Tenant) && PartMatches(domain, actual.Domain);
    }

    /// <summary>Whether a queue's tenant and campaign are the ones asked for (null: any).</summary>
    public static bool Belongs(string queue, string? tenant, string? campaign)
    {
        var parts = Parts(queue);
        return (tenant is null || string.Equals(parts.Tenant, tenant, StringComparison.OrdinalIgnoreCase))
            && (campaign is null || string.Equals(parts.Campaign, campaign, StringComparison.OrdinalIgnoreCase));
    }

    private static bool PartMatches(string? pattern, string? actual) =>
        pattern == "*" || string.Equals(pattern, actual, StringComparison.OrdinalIgnoreCase);
}
