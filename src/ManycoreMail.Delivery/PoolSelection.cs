using System.Collections.Concurrent;

namespace ManycoreMail.Delivery;

/// <summary>The source chosen for a delivery, or why there is none and until when the recipients wait.</summary>
internal sealed record SourceChoice(EgressPool Pool, EgressSource? Source, DateTimeOffset? WaitUntil = null, string? Reason = null);

/// <summary>Nginx's smooth weighted round robin over the sources of one pool: over any run of picks each source gets
/// its weight's share, spread out (3:1 gives a a b a, not a a a b). Sources a pick may not use are left out of that
/// pick, and the others share it by their weights.</summary>
internal sealed class WeightedRotation(IReadOnlyList<EgressSource> sources)
{
    private readonly long[] _current = new long[sources.Count];
    private readonly Lock _lock = new();

    public EgressSource? Next(Func<EgressSource, bool> usable)
    {
        lock (_lock)
        {
            var best = -1;
            long total = 0;
            for (var i = 0; i < sources.Count; i++)
            {
                if (!usable(sources[i]))
                {
                    continue;
                }
                _current[i] += sources[i].Weight;
                total += sources[i].Weight;
                if (best < 0 || _current[i] > _current[best])
                {
                    best = i;
                }
            }
            if (best < 0)
            {
                return null;
            }
            _current[best] -= total;
            return sources[best];
        }
    }
}

/// <summary>
/// Picks the pool of a delivery (the first <c>sender/pool-selection</c> rule its campaign, tenant and return-path domain
/// match, else <c>sender/default-pool</c>) and a source in it by weight. A source is skipped while an adaptive rule
/// suspends it, or for a provider whose warm-up cap it has reached today; its share overflows to the pool's other
/// sources. When none is left the recipients wait (not an attempt): until the suspension ends, or the next UTC day.
/// </summary>
internal sealed class PoolSelection
{
    private readonly EgressOptions _options;
    private readonly Dictionary<string, EgressPool> _pools;
    private readonly Dictionary<string, WeightedRotation> _rotations;
    private readonly WarmUpLedger _warmUp;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, DateTimeOffset> _suspended = new(StringComparer.OrdinalIgnoreCase);

    public PoolSelection(EgressOptions options, WarmUpLedger warmUp, TimeProvider time)
    {
        _options = options;
        _pools = options.Pools.ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        _rotations = options.Pools.ToDictionary(p => p.Name, p => new WeightedRotation(p.Sources), StringComparer.OrdinalIgnoreCase);
        _warmUp = warmUp;
        _time = time;
    }

    public EgressOptions Options => _options;

    public WarmUpLedger WarmUp => _warmUp;

    public IEnumerable<EgressSource> Sources => _options.Pools.SelectMany(p => p.Sources);

    /// <summary>The pool for a scheduled queue (campaign:tenant@domain) and a return path.</summary>
    public EgressPool PoolFor(string queue, string reversePath)
    {
        var (campaign, tenant, _) = ScheduledQueueName.Parts(queue);
        var at = reversePath.LastIndexOf('@');
        var fromDomain = at < 0 ? null : reversePath[(at + 1)..].TrimEnd('.');
        foreach (var rule in _options.Selection)
        {
            if (rule.Matches(campaign, tenant, fromDomain))
            {
                return _pools[rule.Pool];
            }
        }
        return _pools[_options.DefaultPool];
    }

    /// <summary>A source of <paramref name="pool"/> for <paramref name="recipients"/> recipients of <paramref name="provider"/>,
    /// counted against its warm-up cap.</summary>
    public async ValueTask<SourceChoice> ChooseAsync(EgressPool pool, string provider, int recipients, CancellationToken cancellationToken)
    {
        var rotation = _rotations[pool.Name];
        var now = _time.GetUtcNow();
        // A concurrent delivery may take the last room between the pick and the reservation: pick again.
        for (var round = 0; round <= pool.Sources.Count; round++)
        {
            var source = rotation.Next(s => !IsSuspended(s, now) && _warmUp.HasRoom(s, provider, recipients));
            if (source is null)
            {
                break;
            }
            if (await _warmUp.TryReserveAsync(source, provider, recipients, cancellationToken).ConfigureAwait(false))
            {
                return new SourceChoice(pool, source);
            }
        }
        var suspendedUntil = pool.Sources.Select(s => _suspended.TryGetValue(s.Name, out var until) && until > now ? until : (DateTimeOffset?)null).ToArray();
        if (suspendedUntil.All(u => u is not null))
        {
            return new SourceChoice(pool, null, suspendedUntil.Min(), $"every source of pool {pool.Name} is suspended by adaptive shaping");
        }
        return new SourceChoice(pool, null, _warmUp.NextDay, $"every source of pool {pool.Name} has reached its warm-up cap for {provider} today");
    }

    public void Suspend(string source, DateTimeOffset until) => _suspended[source] = until;

    /// <summary>Lifts an adaptive suspension of a source; false when it had none.</summary>
    public bool Resume(string source) => _suspended.TryRemove(source, out _);

    public IReadOnlyList<KeyValuePair<string, DateTimeOffset>> SuspendedSources
    {
        get
        {
            var now = _time.GetUtcNow();
            return _suspended.Where(s => s.Value > now).OrderBy(s => s.Key, StringComparer.Ordinal).ToArray();
        }
    }

    private bool IsSuspended(EgressSource source, DateTimeOffset now) => _suspended.TryGetValue(source.Name, out var until) && until > now;
}

/// <summary>What the engine needs from its host for egress: the warm-up store and the egress metrics.</summary>
/// <param name="SharedWarmUp">Warm-up counts shared with other sender processes (they then decide every reservation).</param>
internal sealed record EgressServices(IWarmUpStore? WarmUpStore, IEgressMetrics? Metrics, ISharedWarmUpCounts? SharedWarmUp = null);

/// <summary>The provider of a site: the name of the first shaping rule (shipped or configured) that matches its recipient
/// domain or MX hosts, "other" when none does. Warm-up caps and adaptive rules are per provider.</summary>
internal static class EgressProviders
{
    public const string Other = "other";

    /// <summary>Every provider name the rules give, and "other".</summary>
    public static IReadOnlyList<string> Names(IReadOnlyList<ShapingRule> rules) =>
        [.. rules.Select(r => r.Name).Distinct(StringComparer.OrdinalIgnoreCase), Other];

    public static string Of(IReadOnlyList<ShapingRule> rules, string domain, IReadOnlyList<string> mxHosts)
    {
        // Asked for every message routed: an indexed loop, since foreach over the interface boxes its enumerator.
        for (var i = 0; i < rules.Count; i++)
        {
            if (rules[i].Matches(domain, mxHosts))
            {
                return rules[i].Name;
            }
        }
        return Other;
    }
}
