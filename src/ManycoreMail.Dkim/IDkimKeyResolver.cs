using ManycoreMail.Dns;

namespace ManycoreMail.Dkim;

public enum DkimKeyLookupStatus
{
    /// <summary>TXT records were returned.</summary>
    Found,
    /// <summary>The name does not exist or has no TXT record: a permanent error for the signature.</summary>
    NotFound,
    /// <summary>DNS trouble that may pass.</summary>
    TemporaryFailure,
}

/// <param name="Records">The TXT records, each one's strings joined.</param>
public sealed record DkimKeyLookup(DkimKeyLookupStatus Status, IReadOnlyList<string> Records);

/// <summary>Fetches the key records of a selector (RFC 6376 §3.6.2).</summary>
public interface IDkimKeyResolver
{
    ValueTask<DkimKeyLookup> LookupAsync(string selector, string domain, CancellationToken cancellationToken);
}

/// <summary>Key records from DNS: TXT at selector._domainkey.domain.</summary>
public sealed class DnsDkimKeyResolver(IDnsResolver dns) : IDkimKeyResolver
{
    public async ValueTask<DkimKeyLookup> LookupAsync(string selector, string domain, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(selector);
        ArgumentException.ThrowIfNullOrEmpty(domain);
        var answer = await dns.ResolveTxtAsync($"{selector}._domainkey.{domain}", cancellationToken).ConfigureAwait(false);
        return answer.Status switch
        {
            DnsStatus.Ok => new DkimKeyLookup(DkimKeyLookupStatus.Found, answer.Records),
            DnsStatus.NoData or DnsStatus.NxDomain => new DkimKeyLookup(DkimKeyLookupStatus.NotFound, []),
            _ => new DkimKeyLookup(DkimKeyLookupStatus.TemporaryFailure, []),
        };
    }
}
