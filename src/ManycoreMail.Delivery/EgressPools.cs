using System.Net;

namespace ManycoreMail.Delivery;

/// <summary>One egress identity: the address connections are bound to and the name we give in EHLO. Its
/// <see cref="Weight"/> is its share of its pool's traffic; <see cref="WarmUp"/> caps it per provider and day while it
/// builds a reputation.</summary>
/// <param name="Name">Unique over every pool; part of the site names (<c>mx.example.com@NAME</c>) and of metric labels.
/// Empty only for the implicit source of <c>sender/source-address</c> without an address.</param>
/// <param name="Address">Null lets the kernel choose (the implicit source without <c>sender/source-address</c>).</param>
/// <param name="HeloName">Null: the sender's <c>helo-name</c>.</param>
internal sealed record EgressSource(string Name, IPAddress? Address, string? HeloName, int Weight = 1, WarmUpSchedule? WarmUp = null);

/// <summary>A named set of sources that share a stream of mail by weight.</summary>
internal sealed record EgressPool(string Name, IReadOnlyList<EgressSource> Sources);

/// <summary>A <c>sender/pool-selection</c> entry: every condition it sets must hold (campaign, tenant, and the domain of the
/// return path); the first entry that matches names the pool.</summary>
internal sealed record PoolSelectionRule(string Pool, string? Campaign = null, string? Tenant = null, string? FromDomain = null)
{
    public bool Matches(string? campaign, string? tenant, string? fromDomain) =>
        (Campaign is null || string.Equals(Campaign, campaign, StringComparison.OrdinalIgnoreCase))
        && (Tenant is null || string.Equals(Tenant, tenant, StringComparison.OrdinalIgnoreCase))
        && (FromDomain is null || string.Equals(FromDomain, fromDomain, StringComparison.OrdinalIgnoreCase));
}

/// <summary><c>sender/egress-pools</c>, <c>sender/pool-selection</c> and <c>sender/default-pool</c>, checked when read:
/// every pool has sources, names are unique, every rule and the default name a pool.</summary>
internal sealed record EgressOptions(IReadOnlyList<EgressPool> Pools, IReadOnlyList<PoolSelectionRule> Selection, string DefaultPool)
{
    /// <summary>Without egress pools, <c>sender/source-address</c> and the sender's HELO name are one pool of one source,
    /// which keeps the site names of before (<c>mx.example.com@192.0.2.10</c>, or no suffix).</summary>
    public static EgressOptions Implicit(IPAddress? sourceAddress, string heloName) =>
        new([new EgressPool("default", [new EgressSource(sourceAddress?.ToString() ?? "", sourceAddress, heloName)])], [], "default")
        {
            IsImplicit = true,
        };

    /// <summary>True for the pool made of <c>sender/source-address</c>: its relay sites keep their old names too.</summary>
    public bool IsImplicit { get; init; }
}
