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

/// <summary>An answer. <see cref="Authenticated"/> is the resolver's AD bit: it validated the answer (or the denial of
/// it) with DNSSEC. It means something only when the path to the resolver is trusted (loopback or a private network),
/// as RFC 7672 §2.1 says of the stub that relies on it.</summary>
public readonly record struct DnsResult<T>(DnsStatus Status, IReadOnlyList<T> Records, bool Authenticated = false)
{
    public bool IsOk => Status == DnsStatus.Ok;
}

/// <summary>An MX record. <see cref="Exchange"/> has no trailing dot and is lower case; it is empty for a Null MX (RFC 7505).</summary>
public sealed record MxRecord(ushort Preference, string Exchange)
{
    public bool IsNullMx => Exchange.Length == 0;
}

/// <summary>A TLSA record (RFC 6698 §2.1): which certificate or key the TLS server of a port must present.</summary>
/// <param name="Usage">0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE (RFC 7218 names).</param>
/// <param name="Selector">0 the whole certificate, 1 its SubjectPublicKeyInfo.</param>
/// <param name="MatchingType">0 the data itself, 1 its SHA-256, 2 its SHA-512.</param>
public sealed record TlsaRecord(byte Usage, byte Selector, byte MatchingType, ReadOnlyMemory<byte> Data)
{
    public override string ToString() => $"{Usage} {Selector} {MatchingType} {Convert.ToHexStringLower(Data.Span)}";

    public bool Equals(TlsaRecord? other) =>
        other is not null && Usage == other.Usage && Selector == other.Selector && MatchingType == other.MatchingType && Data.Span.SequenceEqual(other.Data.Span);

    public override int GetHashCode() => HashCode.Combine(Usage, Selector, MatchingType, Data.Length);
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

    /// <summary>TLSA records at <paramref name="name"/> (such as <c>_25._tcp.mx.example.com</c>). DANE trusts them
    /// only when the result is <see cref="DnsResult{T}.Authenticated"/>. A resolver that cannot ask finds none
    /// (the default), which leaves DANE out.</summary>
    ValueTask<DnsResult<TlsaRecord>> ResolveTlsaAsync(string name, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new DnsResult<TlsaRecord>(DnsStatus.NoData, []));
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
