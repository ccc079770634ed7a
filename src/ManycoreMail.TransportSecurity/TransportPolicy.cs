using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using ManycoreMail.Dns;
using ManycoreMail.TransportSecurity.Dane;
using ManycoreMail.TransportSecurity.MtaSts;

namespace ManycoreMail.TransportSecurity;

/// <summary>Which standard governs a connection to one MX host, in RFC 8460's policy-type words.</summary>
public enum TlsPolicyKind
{
    /// <summary>Opportunistic TLS (RFC 7435): nothing is required or checked.</summary>
    None,
    Tlsa,
    Sts,
}

/// <summary>What a connection to one MX host must achieve.</summary>
/// <param name="Host">The MX host name.</param>
/// <param name="Kind">Which policy applies.</param>
/// <param name="TlsRequired">STARTTLS must succeed; no plain-text fallback.</param>
/// <param name="Skip">Non-null: do not connect to this host at all (MTA-STS enforce, host matches no <c>mx</c>
/// pattern; or DANE lookups failed), with the reason.</param>
/// <param name="ReportOnly">MTA-STS testing: failures are reported, the connection goes on.</param>
public sealed record HostTlsPolicy(string Host, TlsPolicyKind Kind, bool TlsRequired, string? Skip, bool ReportOnly, IReadOnlyList<TlsaRecord> Tlsa, CertificateTrust? Trust)
{
    public static HostTlsPolicy Opportunistic(string host) => new(host, TlsPolicyKind.None, false, null, false, [], null);

    /// <summary>Null when the presented certificate satisfies the policy, else why not. Opportunistic accepts all.</summary>
    public string? Check(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        switch (Kind)
        {
            case TlsPolicyKind.Tlsa:
                if (certificate is null)
                {
                    return "the server sent no certificate";
                }

                using (var leaf = new X509Certificate2(certificate))
                {
                    var presented = chain?.ChainElements.Select(e => e.Certificate).ToArray() ?? [];
                    return DaneMatcher.Check(leaf, presented, Tlsa, [Host]);
                }

            case TlsPolicyKind.Sts:
                return Trust!.Verify(certificate, chain, errors, Host);
            default:
                return null;
        }
    }
}

/// <summary>The policies for a recipient domain's MX hosts, plus the policy the TLS-RPT report files them under.</summary>
public sealed record DomainTlsPolicy(string Domain, IReadOnlyList<HostTlsPolicy> Hosts, CachedMtaStsPolicy? Sts, string? StsFailureType, string? StsFailure)
{
    public HostTlsPolicy For(string host) =>
        Hosts.FirstOrDefault(h => string.Equals(h.Host, host, StringComparison.OrdinalIgnoreCase)) ?? HostTlsPolicy.Opportunistic(host);
}

/// <summary>The narrow face the connector sees: what TLS each MX host of a domain needs.</summary>
public interface ITransportPolicy
{
    Task<DomainTlsPolicy> ResolveAsync(string domain, IReadOnlyList<string> mxHosts, CancellationToken cancellationToken);
}

/// <summary>DANE first, then MTA-STS (RFC 8461 §2: a host with usable authenticated TLSA records is checked by DANE
/// alone), else opportunistic. DANE for a host counts only when its MX answer, its address and its TLSA records
/// all came back authenticated (RFC 7672 §2.2).</summary>
public sealed class TransportPolicy(IDnsResolver resolver, MtaStsPolicySource? mtaSts, bool dane, CertificateTrust trust) : ITransportPolicy
{
    public async Task<DomainTlsPolicy> ResolveAsync(string domain, IReadOnlyList<string> mxHosts, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(domain);
        ArgumentNullException.ThrowIfNull(mxHosts);
        var stsTask = mtaSts is null ? Task.FromResult(new MtaStsLookup(null)) : mtaSts.GetAsync(domain, cancellationToken);
        var daneTasks = mxHosts.Select(h => DaneForAsync(domain, h, cancellationToken)).ToArray();
        var sts = await stsTask.ConfigureAwait(false);
        var daneResults = await Task.WhenAll(daneTasks).ConfigureAwait(false);

        var policy = sts.Policy is { Policy.Mode: not MtaStsMode.None } p ? p : null;
        var hosts = new List<HostTlsPolicy>(mxHosts.Count);
        for (var i = 0; i < mxHosts.Count; i++)
        {
            hosts.Add(daneResults[i] ?? StsFor(mxHosts[i], policy));
        }

        return new DomainTlsPolicy(domain, hosts, policy, sts.FailureType, sts.Failure);
    }

    private HostTlsPolicy StsFor(string host, CachedMtaStsPolicy? policy)
    {
        if (policy is null)
        {
            return HostTlsPolicy.Opportunistic(host);
        }

        var enforce = policy.Policy.Mode == MtaStsMode.Enforce;
        var skip = policy.Policy.Matches(host) ? null : $"{host} matches no mx pattern of the MTA-STS policy of {policy.Domain}";
        return new HostTlsPolicy(host, TlsPolicyKind.Sts, enforce, enforce ? skip : null, !enforce, [], trust);
    }

    /// <summary>Null when DANE does not apply to the host; otherwise the DANE policy (which may be "skip" when the
    /// TLSA lookup failed for a host whose MX and address are signed: RFC 7672 §2.2 defers rather than downgrades).</summary>
    private async Task<HostTlsPolicy?> DaneForAsync(string domain, string host, CancellationToken cancellationToken)
    {
        if (!dane)
        {
            return null;
        }

        var mx = await resolver.ResolveMxAsync(domain, cancellationToken).ConfigureAwait(false);
        var implicitMx = mx.Status is DnsStatus.NoData && string.Equals(host, domain, StringComparison.OrdinalIgnoreCase);
        if (!mx.Authenticated || !(mx.IsOk || implicitMx))
        {
            return null; // RFC 7672 §2.2.1: an insecure MX RRset gives no DANE
        }

        var addresses = await resolver.ResolveAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        if (!addresses.Authenticated)
        {
            return null; // §2.2.2: TLSA of a host whose address is insecure are not looked up
        }

        var tlsa = await resolver.ResolveTlsaAsync($"_25._tcp.{host}", cancellationToken).ConfigureAwait(false);
        switch (tlsa.Status)
        {
            case DnsStatus.TemporaryFailure:
                return new HostTlsPolicy(host, TlsPolicyKind.Tlsa, true, $"the TLSA lookup for _25._tcp.{host} failed (DNSSEC bogus or server failure)", false, [], null);
            case DnsStatus.Ok when tlsa.Authenticated:
                // §2.2: records that are all unusable still mean "TLS required", just not authenticated.
                var usable = DaneMatcher.Usable(tlsa.Records);
                return usable.Count > 0
                    ? new HostTlsPolicy(host, TlsPolicyKind.Tlsa, true, null, false, usable, null)
                    : new HostTlsPolicy(host, TlsPolicyKind.None, true, null, false, [], null);
            default:
                return null;
        }
    }
}
