using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace ManycoreMail.TransportSecurity;

/// <summary>WebPKI verification against the system's roots plus the roots of <c>sender/ca-file</c> (tests and private
/// networks), with the host name checked: what MTA-STS needs of an MX host and of the policy server.</summary>
public sealed class CertificateTrust
{
    private readonly X509Certificate2Collection _extraRoots;

    public CertificateTrust(X509Certificate2Collection? extraRoots = null)
    {
        _extraRoots = extraRoots ?? [];
    }

    /// <summary>Reads PEM certificates from <paramref name="caFile"/> (null: system roots only).</summary>
    /// <exception cref="InvalidDataException">The file holds no certificate; the message names it.</exception>
    public static CertificateTrust FromFile(string? caFile)
    {
        if (string.IsNullOrEmpty(caFile))
        {
            return new CertificateTrust();
        }

        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(caFile);
        return roots.Count > 0 ? new CertificateTrust(roots) : throw new InvalidDataException($"{caFile} holds no PEM certificate");
    }

    /// <summary>Null when <paramref name="certificate"/> chains to a trusted root and names <paramref name="hostName"/>
    /// (null: the TLS stack's own name check in <paramref name="errors"/> counts); otherwise the reason.
    /// <paramref name="errors"/> is what the TLS stack found against the system roots alone; a chain error is looked
    /// at again with the extra roots.</summary>
    public string? Verify(X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors, string? hostName)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return "the server sent no certificate";
        }

        using var leaf = new X509Certificate2(certificate);
        if (hostName is null ? errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) : !leaf.MatchesHostname(hostName, allowWildcards: true, allowCommonName: false))
        {
            return hostName is null ? "the certificate does not name the host" : $"the certificate does not name {hostName}";
        }

        if (!errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            return null;
        }

        if (_extraRoots.Count == 0)
        {
            return "the certificate does not chain to a trusted root: " + Describe(presented);
        }

        using var chain = OfflineChain.Create(_extraRoots, presented?.ChainElements.Select(e => e.Certificate) ?? []);

        return chain.Build(leaf) ? null : "the certificate does not chain to a trusted root: " + Describe(chain);
    }

    /// <summary>Same as <see cref="Verify"/> with the system roots checked here too, for callers that have no TLS
    /// stack verdict (the presented chain only).</summary>
    public string? VerifyPresented(X509Certificate2 leaf, IReadOnlyList<X509Certificate2> presented, string hostName)
    {
        using var chain = OfflineChain.Create([], presented);

        var errors = chain.Build(leaf) ? SslPolicyErrors.None : SslPolicyErrors.RemoteCertificateChainErrors;
        return Verify(leaf, chain, errors, hostName);
    }

    private static string Describe(X509Chain? chain) =>
        chain is null || chain.ChainStatus.Length == 0
            ? "untrusted"
            : string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct());
}
