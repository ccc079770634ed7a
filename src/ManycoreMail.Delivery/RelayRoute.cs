using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ManycoreMail.Smtp.Client;

namespace ManycoreMail.Delivery;

/// <summary>A smarthost (<c>sender/relay</c>, a <c>sender/relay-domains</c> entry, <c>mxserver/forwarding/relay</c>).
/// Port 587 means STARTTLS, 465 implicit TLS, unless <see cref="Tls"/> says otherwise. <see cref="CaFile"/> (PEM)
/// replaces the system's trusted roots for this relay, for a private certificate authority.</summary>
internal sealed record RelayRoute(string Host, int Port, SmtpTlsMode Tls, string? Username, string? Password, string? CaFile = null)
{
    /// <summary>The certificate must chain to a trusted root (the system's, or <see cref="CaFile"/>'s) and name
    /// <see cref="Host"/>. On by default: a relay gets credentials and all the mail.</summary>
    public bool VerifyCertificate { get; init; } = true;

    public static SmtpTlsMode DefaultTlsFor(int port) => port switch
    {
        465 => SmtpTlsMode.Implicit,
        587 => SmtpTlsMode.Required,
        _ => SmtpTlsMode.Opportunistic,
    };

    /// <summary>The connector both the sender and the forwarder use; reads <see cref="CaFile"/> now.</summary>
    /// <exception cref="CryptographicException">The ca-file (checked when the configuration was read) is unreadable now.</exception>
    public RelayConnector CreateConnector() => new(new RelayPolicy
    {
        Host = Host,
        Tls = Tls,
        Username = Username,
        Password = Password,
        VerifyCertificate = VerifyCertificate,
        TrustedRoots = CaFile is null ? null : LoadRoots(CaFile),
    });

    /// <summary>The certificates of a PEM file, as trust anchors.</summary>
    public static X509Certificate2Collection LoadRoots(string caFile)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(caFile);
        return roots;
    }

    /// <summary>The relay's addresses, each a host of its site (the name is the relay's, for the certificate check).</summary>
    public async Task<IReadOnlyList<SiteHost>> ResolveAsync(CancellationToken cancellationToken) =>
        (await RelayConnector.ResolveAsync(Host, Port, cancellationToken).ConfigureAwait(false))
            .Select(endPoint => new SiteHost(Host, endPoint)).ToArray();

    // A record prints every property; the password must never reach a log line.
    public override string ToString() =>
        $"RelayRoute {{ Host = {Host}, Port = {Port}, Tls = {Tls}, Username = {Username}, CaFile = {CaFile}, VerifyCertificate = {VerifyCertificate} }}";
}
