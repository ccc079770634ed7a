using System.Net;

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
