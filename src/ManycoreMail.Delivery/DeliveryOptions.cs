using System.Net;

namespace ManycoreMail.Delivery;

/// <summary>The delivery engine's settings beyond the original's keys: connection pools, traffic shaping,
/// TLS policy, relay (smarthost) routes and per-queue lifetimes. Defaults are what a large sender would use.</summary>
internal sealed record DeliveryOptions
{
    /// <summary>Egress address connections are bound to; null lets the kernel choose.</summary>
    public IPAddress? SourceAddress { get; init; }
    /// <summary>Limits for every site before shaping rules narrow them.</summary>
    public SiteLimits DefaultLimits { get; init; } = SiteLimits.Default;
    /// <summary>Shaping rules; the shipped provider rules come first, configured ones after (all matching apply).</summary>
    public IReadOnlyList<ShapingRule> ShapingRules { get; init; } = ShippedShaping.Rules;
    /// <summary>How long an idle pooled connection is kept open.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Recipient domains to which STARTTLS is mandatory (no plain-text fallback).</summary>
    public IReadOnlyList<string> TlsRequiredDomains { get; init; } = [];
    /// <summary>How long a host whose TLS handshake failed is sent plain text without trying TLS again.</summary>
    public TimeSpan BrokenTlsMemory { get; init; } = TimeSpan.FromHours(1);
    /// <summary>How long a site stays in back-off after a 421 or a connection failure (doubles while it repeats).</summary>
    public TimeSpan SiteBackoff { get; init; } = TimeSpan.FromMinutes(1);
    public TimeSpan MaxSiteBackoff { get; init; } = TimeSpan.FromMinutes(30);
    /// <summary>A delivery waits this long at most for a rate limit; beyond it the recipient is rescheduled.</summary>
    public TimeSpan MaxRateWait { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Smarthost for every domain without a per-domain route; null means MX delivery.</summary>
    public RelayRoute? Relay { get; init; }
    /// <summary>Smarthosts for particular recipient domains (exact, or ".example.com" for subdomains).</summary>
    public IReadOnlyList<KeyValuePair<string, RelayRoute>> DomainRelays { get; init; } = [];
    /// <summary>Queue lifetime overrides, matched in order against the scheduled queue name (campaign:tenant@domain).</summary>
    public IReadOnlyList<QueueLifetime> QueueLifetimes { get; init; } = [];
    /// <summary>Default tenant for messages without an X-Tenant (envelope Tenant).</summary>
    public string? Tenant { get; init; }
    /// <summary>The operations endpoint (sender/admin); null when not configured.</summary>
    public AdminOptions? Admin { get; init; }
    /// <summary>How soon a message held by a suspended site or queue is looked at again (it does not count as an attempt).</summary>
    public TimeSpan SuspendedRetry { get; init; } = TimeSpan.FromMinutes(1);
    /// <summary>How long idle sites are kept in memory after their last use before they are forgotten.</summary>
    public TimeSpan SiteIdleEviction { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>Client timeouts; shorter than RFC 5321's minutes only in tests.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>sender/egress-pools, pool-selection, default-pool; null: <see cref="SourceAddress"/> is the one source.</summary>
    public EgressOptions? Egress { get; init; }
    /// <summary>sender/adaptive-shaping: the shipped rules first (unless shipped-adaptive-shaping is false), configured ones after.</summary>
    public IReadOnlyList<AdaptiveRule> AdaptiveRules { get; init; } = ShippedAdaptiveShaping.Rules;
}

/// <summary>The HTTP operations endpoint: on its own bind (loopback unless configured otherwise), never on the
/// public API port, every request authenticated with a bearer token.</summary>
internal sealed record AdminOptions(IPEndPoint Bind, string Token)
{
    /// <summary>A shorter token is refused, in the configuration and in <c>--admin-token-file</c>.</summary>
    public const int MinTokenLength = 16;
}

/// <summary>A queue lifetime for scheduled queues whose name matches <see cref="Pattern"/>
/// (as <see cref="ScheduledQueueName.Matches"/>: exact, a prefix ending in '*', or part by part).</summary>
internal sealed record QueueLifetime(string Pattern, TimeSpan Lifetime)
{
    public bool Matches(string queue) => ScheduledQueueName.Matches(Pattern, queue);
}
