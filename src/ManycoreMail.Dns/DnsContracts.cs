using System.Net;
using System.Net.Sockets;

namespace ManycoreMail.Dns;

public enum DnsStatus
{
    /// <summary>The name exists and records of the type were returned.</summary>
    Ok,
    /// <summary>The name exists but has no records of the type.</summary>
    NoData,
    /// <summary>The name does not exist (RCODE 3).</summary>
    NxDomain,
    /// <summary>Temporary trouble: SERVFAIL, REFUSED, timeout, network error. Try again later.</summary>
    TemporaryFailure,
}

public readonly record struct DnsResult<T>(DnsStatus Status, IReadOnlyList<T> Records)
{
    public bool IsOk => Status == DnsStatus.Ok;
}

/// <summary>An MX record. <see cref="Exchange"/> has no trailing dot and is lower case; it is empty for a Null MX (RFC 7505).</summary>
public sealed record MxRecord(ushort Preference, string Exchange)
{
    public bool IsNullMx => Exchange.Length == 0;
}

public interface IDnsResolver
{
    ValueTask<DnsResult<MxRecord>> ResolveMxAsync(string domain, CancellationToken cancellationToken);

    /// <summary>A and AAAA records together (IPv4 first).</summary>
    ValueTask<DnsResult<IPAddress>> ResolveAddressesAsync(string host, CancellationToken cancellationToken);

    /// <summary>TXT records, each record's character-strings joined without separator.</summary>
    ValueTask<DnsResult<string>> ResolveTxtAsync(string name, CancellationToken cancellationToken);

    /// <summary>Only A (<see cref="AddressFamily.InterNetwork"/>) or only AAAA records. SPF asks for one family and
    /// must see "no records of that family" as a void lookup. The default filters <see cref="ResolveAddressesAsync(string, CancellationToken)"/>.</summary>
    async ValueTask<DnsResult<IPAddress>> ResolveAddressesAsync(string host, AddressFamily family, CancellationToken cancellationToken)
    {
        var both = await ResolveAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        if (!both.IsOk)
        {
            return both;
        }

        var ofFamily = both.Records.Where(address => address.AddressFamily == family).ToArray();
        return ofFamily.Length > 0 ? new(DnsStatus.Ok, ofFamily) : new(DnsStatus.NoData, []);
    }

    /// <summary>The names a PTR lookup of <paramref name="address"/>'s reverse name (in-addr.arpa or ip6.arpa) gives,
    /// without trailing dot and lower case. A resolver that cannot ask for PTR records finds none (the default).</summary>
    ValueTask<DnsResult<string>> ResolvePtrAsync(IPAddress address, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new DnsResult<string>(DnsStatus.NoData, []));
}

/// <summary>Where mail for a domain goes, per RFC 5321 §5.1.</summary>
public enum MailRouteStatus
{
    Ok,
    /// <summary>The domain publishes a Null MX: it accepts no mail.</summary>
    NullMx,
    /// <summary>The domain does not exist, or has neither MX nor address records.</summary>
    NoSuchDomain,
    /// <summary>DNS trouble; defer.</summary>
    TemporaryFailure,
}

public sealed record MailHost(string Name, ushort Preference, IReadOnlyList<IPAddress> Addresses);

public sealed record MailRoute(MailRouteStatus Status, IReadOnlyList<MailHost> Hosts, string? Detail = null);
