using System.Security.Cryptography.X509Certificates;

namespace ManycoreMail.TransportSecurity;

/// <summary>Chains built from what the server sent, without network fetches (no revocation or AIA downloads: a mail
/// delivery must not wait on a CA's web server).</summary>
internal static class OfflineChain
{
    /// <param name="roots">The only trusted roots; empty: the system's.</param>
    public static X509Chain Create(IEnumerable<X509Certificate2> roots, IEnumerable<X509Certificate2> presented)
    {
        var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        foreach (var root in roots)
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(root);
        }

        foreach (var certificate in presented)
        {
            chain.ChainPolicy.ExtraStore.Add(certificate);
        }

        return chain;
    }
}
