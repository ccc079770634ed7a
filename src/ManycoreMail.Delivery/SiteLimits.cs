namespace ManycoreMail.Delivery;

/// <summary>What one site (a set of MX hosts) may receive from us. Null means no limit of that kind.</summary>
internal sealed record SiteLimits
{
    public static readonly SiteLimits Default = new() { MaxConnections = 10, MaxDeliveriesPerConnection = 100 };

    public int MaxConnections { get; init; } = 10;
    public int MaxDeliveriesPerConnection { get; init; } = 100;
    public int? MessagesPerSecond { get; init; }
    public int? MessagesPerMinute { get; init; }
    public int? MessagesPerHour { get; init; }
    /// <summary>Postfix's rate_delay: at least this long between two deliveries to the site.</summary>
    public TimeSpan? DelayBetweenDeliveries { get; init; }
    /// <summary>Recipients per transaction; more are split into several transactions.</summary>
    public int? MaxRecipientsPerMessage { get; init; }

    /// <summary>Both sets of limits at once: the smaller of each wins.</summary>
    public SiteLimits Narrow(SiteLimits other) => new()
    {
        MaxConnections = Math.Min(MaxConnections, other.MaxConnections),
        MaxDeliveriesPerConnection = Math.Min(MaxDeliveriesPerConnection, other.MaxDeliveriesPerConnection),
        MessagesPerSecond = Min(MessagesPerSecond, other.MessagesPerSecond),
        MessagesPerMinute = Min(MessagesPerMinute, other.MessagesPerMinute),
        MessagesPerHour = Min(MessagesPerHour, other.MessagesPerHour),
        DelayBetweenDeliveries = DelayBetweenDeliveries is { } a && other.DelayBetweenDeliveries is { } b
            ? (a > b ? a : b) // a longer delay is the smaller rate
            : DelayBetweenDeliveries ?? other.DelayBetweenDeliveries,
        MaxRecipientsPerMessage = Min(MaxRecipientsPerMessage, other.MaxRecipientsPerMessage),
    };

    private static int? Min(int? a, int? b) => a is { } x && b is { } y ? Math.Min(x, y) : a ?? b;
}

/// <summary>Limits that apply where a recipient domain or one of its MX host names matches.</summary>
/// <param name="Name">For logs and admin output.</param>
/// <param name="Domains">Recipient domains (exact).</param>
/// <param name="MxSuffixes">MX host name suffixes, e.g. "google.com" matches "aspmx.l.google.com".</param>
internal sealed record ShapingRule(string Name, IReadOnlyList<string> Domains, IReadOnlyList<string> MxSuffixes, SiteLimits Limits)
{
    public bool Matches(string domain, IReadOnlyList<string> mxHosts)
    {
        // Indexed loops: foreach over an IReadOnlyList boxes an enumerator, and every message's route asks every
        // rule (EgressProviders.Of).
        for (var d = 0; d < Domains.Count; d++)
        {
            if (string.Equals(Domains[d], domain, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        for (var h = 0; h < mxHosts.Count; h++)
        {
            var host = mxHosts[h];
            for (var s = 0; s < MxSuffixes.Count; s++)
            {
                var suffix = MxSuffixes[s];
                if (host.Equals(suffix, StringComparison.OrdinalIgnoreCase)
                    || (host.EndsWith(suffix, StringComparison.OrdinalIgnoreCase) && host[^(suffix.Length + 1)] == '.'))
                {
                    return true;
                }
            }
        }
        return false;
    }
}

/// <summary>The limits we ship for the large mailbox providers: conservative figures in line with what they
/// publish and what KumoMTA's community shaping file carries, plus the original's Postfix "slow" transport for
/// the French ISPs (concurrency 3, 20 recipients per message, 5 s between deliveries).</summary>
internal static class ShippedShaping
{
    private static readonly SiteLimits FrenchIsp = SiteLimits.Default with
    {
        MaxConnections = 3,
        MaxRecipientsPerMessage = 20,
        DelayBetweenDeliveries = TimeSpan.FromSeconds(5),
    };

    public static readonly IReadOnlyList<ShapingRule> Rules =
    [
        new("gmail", ["gmail.com", "googlemail.com"], ["google.com", "googlemail.com"],
            SiteLimits.Default with { MaxConnections = 10, MaxDeliveriesPerConnection = 50 }),
        new("outlook", ["outlook.com", "hotmail.com", "live.com", "msn.com"], ["outlook.com", "hotmail.com"],
            SiteLimits.Default with { MaxConnections = 10, MaxDeliveriesPerConnection = 100, MessagesPerMinute = 1200 }),
        new("yahoo", ["yahoo.com", "yahoo.fr", "ymail.com", "aol.com", "aim.com"], ["yahoodns.net", "aol.com"],
            SiteLimits.Default with { MaxConnections = 10, MaxDeliveriesPerConnection = 20 }),
        new("apple", ["icloud.com", "me.com", "mac.com"], ["icloud.com", "apple.com"],
            SiteLimits.Default with { MaxConnections = 10, MaxDeliveriesPerConnection = 20, MessagesPerMinute = 600 }),
        new("orange", ["orange.fr", "orange.com", "wanadoo.fr", "wanadoo.com"], ["orange.fr", "wanadoo.fr"], FrenchIsp),
        new("laposte", ["laposte.net"], ["laposte.net"], FrenchIsp),
        new("free", ["free.fr"], ["free.fr"], FrenchIsp),
    ];
}

/// <summary>Finds the limits of a site: the defaults narrowed by every rule that matches.</summary>
internal sealed class TrafficShaping(SiteLimits defaults, IReadOnlyList<ShapingRule> rules)
{
    public SiteLimits LimitsFor(string domain, IReadOnlyList<string> mxHosts)
    {
        var limits = defaults;
        foreach (var rule in rules)
        {
            if (rule.Matches(domain, mxHosts))
            {
                limits = limits.Narrow(rule.Limits);
            }
        }
        return limits;
    }
}
