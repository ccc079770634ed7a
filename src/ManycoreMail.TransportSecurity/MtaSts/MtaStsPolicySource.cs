using System.Collections.Concurrent;
using ManycoreMail.Dns;

namespace ManycoreMail.TransportSecurity.MtaSts;

/// <summary>The policy in force for a domain, or none, and what went wrong getting it (for TLS-RPT).</summary>
public sealed record MtaStsLookup(CachedMtaStsPolicy? Policy, string? FailureType = null, string? Failure = null);

/// <summary>The MTA-STS policy of a recipient domain per RFC 8461 §5.1: the <c>_mta-sts</c> record says which policy
/// id is current; a cached policy with that id is used, a new id is fetched, and a failed fetch keeps an unexpired
/// cached policy (so blocking the fetch cannot downgrade a domain we already know).</summary>
public sealed class MtaStsPolicySource(IDnsResolver resolver, MtaStsFetcher fetcher, MtaStsPolicyStore store, TimeProvider time)
{
    /// <summary>After a failed fetch without a cached policy the domain is asked again only after this: every
    /// connection to it would otherwise wait for the policy server.</summary>
    public static readonly TimeSpan RetryFailedFetchAfter = TimeSpan.FromMinutes(5);

    /// <summary>Failed domains remembered at most; past it they are forgotten (costing one more fetch each).</summary>
    private const int MaxRememberedFailures = 10_000;

    private readonly ConcurrentDictionary<string, Lazy<Task<MtaStsLookup>>> _inFlight = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, (DateTimeOffset Until, MtaStsLookup Lookup)> _failures = new(StringComparer.OrdinalIgnoreCase);

    public async Task<MtaStsLookup> GetAsync(string domain, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(domain);
        var txt = await resolver.ResolveTxtAsync("_mta-sts." + domain, cancellationToken).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var cached = store.Get(domain) is { } c && c.IsFresh(now) ? c : null;
        var record = txt.IsOk ? MtaStsRecord.Select(txt.Records) : null;
        if (record is null || record.Id == cached?.Id)
        {
            // No record (or DNS trouble): a cached policy stays in force until it expires (§5.1).
            return new MtaStsLookup(cached);
        }

        if (_failures.TryGetValue(domain, out var failed) && failed.Until > now)
        {
            // Also with a cached policy: a changed id whose policy cannot be had must not cost a fetch per connection.
            return failed.Lookup with { Policy = cached };
        }

        var fetch = _inFlight.GetOrAdd(domain, d => new Lazy<Task<MtaStsLookup>>(() => FetchSharedAsync(d, record, cached)));
        return await fetch.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>RFC 8461 §5.1: cached policies are refreshed before they expire, so a domain we know is not left
    /// unprotected when its policy lapses while its policy server happens to be down. A policy is fetched again when
    /// its record's id changed or when it was fetched <see cref="RefreshAfter"/> ago; a failed refresh keeps the
    /// cached policy until its max_age runs out. A domain whose record is gone is left to expire (RFC 8461 §8.3
    /// withdraws a policy by publishing mode none under a new id first). Returns one line per domain refreshed or
    /// failed, for the log (the RFC wants refresh problems visible to administrators).</summary>
    public async Task<IReadOnlyList<string>> RefreshAsync(CancellationToken cancellationToken)
    {
        var lines = new List<string>();
        foreach (var cached in store.All)
        {
            var now = time.GetUtcNow();
            if (!cached.IsFresh(now))
            {
                continue;
            }

            var txt = await resolver.ResolveTxtAsync("_mta-sts." + cached.Domain, cancellationToken).ConfigureAwait(false);
            var record = txt.IsOk ? MtaStsRecord.Select(txt.Records) : null;
            if (record is null || (record.Id == cached.Id && now - cached.FetchedAt < RefreshAfter(cached.Policy)))
            {
                continue;
            }

            var fetch = _inFlight.GetOrAdd(cached.Domain, d => new Lazy<Task<MtaStsLookup>>(() => FetchSharedAsync(d, record, cached)));
            var lookup = await fetch.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
            lines.Add(lookup.FailureType is null
                ? $"{cached.Domain}: refreshed (id {cached.Id} -> {lookup.Policy?.Id}, mode {lookup.Policy?.Policy.Mode.ToString().ToLowerInvariant()})"
                : $"{cached.Domain}: refresh failed, keeping id {cached.Id} until {cached.FetchedAt + cached.Policy.MaxAge:u}: {lookup.Failure}");
        }

        return lines;
    }

    /// <summary>Once a day, as RFC 8461 §5.1 suggests, or at half its max_age when that is shorter, so an hourly
    /// refresh still has a second chance before a short-lived policy lapses.</summary>
    public static TimeSpan RefreshAfter(MtaStsPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return TimeSpan.FromTicks(Math.Min(TimeSpan.FromDays(1).Ticks, policy.MaxAge.Ticks / 2));
    }

    /// <summary>One fetch per domain, awaited by every caller that asks meanwhile. It runs on no caller's token: the
    /// first caller giving up must not fail the others. The fetcher's own timeout bounds it.</summary>
    private async Task<MtaStsLookup> FetchSharedAsync(string domain, MtaStsRecord record, CachedMtaStsPolicy? cached)
    {
        try
        {
            return await FetchAsync(domain, record, cached, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            _inFlight.TryRemove(domain, out _);
        }
    }

    private async Task<MtaStsLookup> FetchAsync(string domain, MtaStsRecord record, CachedMtaStsPolicy? cached, CancellationToken cancellationToken)
    {
        try
        {
            var policy = await fetcher.FetchAsync(domain, cancellationToken).ConfigureAwait(false);
            var fresh = new CachedMtaStsPolicy(domain, record.Id, time.GetUtcNow(), policy);
            await store.PutAsync(fresh, cancellationToken).ConfigureAwait(false);
            _failures.TryRemove(domain, out _);
            return new MtaStsLookup(fresh);
        }
        catch (MtaStsFetchException e)
        {
            var lookup = new MtaStsLookup(cached, e.ResultType, e.Message);
            if (_failures.Count >= MaxRememberedFailures)
            {
                _failures.Clear();
            }

            _failures[domain] = (time.GetUtcNow() + RetryFailedFetchAfter, lookup);
            return lookup;
        }
    }
}
