namespace ManycoreMail.Dkim.Tests;

/// <summary>Key records from a table; names it lacks are NotFound, and "tempfail" selectors fail temporarily.
/// The DNS-backed resolver has its own tests against dnsmasq.</summary>
internal sealed class StaticKeyResolver : IDkimKeyResolver
{
    private readonly Dictionary<string, string[]> _records = new(StringComparer.OrdinalIgnoreCase);

    public StaticKeyResolver Add(string selector, string domain, params string[] records)
    {
        _records[$"{selector}._domainkey.{domain}"] = records;
        return this;
    }

    public int Lookups { get; private set; }

    public ValueTask<DkimKeyLookup> LookupAsync(string selector, string domain, CancellationToken cancellationToken)
    {
        Lookups++;
        if (selector == "tempfail")
        {
            return ValueTask.FromResult(new DkimKeyLookup(DkimKeyLookupStatus.TemporaryFailure, []));
        }
        return ValueTask.FromResult(_records.TryGetValue($"{selector}._domainkey.{domain}", out var records)
            ? new DkimKeyLookup(DkimKeyLookupStatus.Found, records)
            : new DkimKeyLookup(DkimKeyLookupStatus.NotFound, []));
    }
}
