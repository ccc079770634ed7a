using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace ManycoreMail.Smtp.Client;

/// <summary>A smarthost as its operator configured it: the name its certificate must carry, the TLS policy, the
/// credentials, and what its certificate must chain to.</summary>
public sealed record RelayPolicy
{
    /// <summary>The relay's name as configured: SNI, and the name its certificate must match.</summary>
    public required string Host { get; init; }

    public SmtpTlsMode Tls { get; init; } = SmtpTlsMode.Opportunistic;

    public string? Username { get; init; }

    public string? Password { get; init; }

    /// <summary>The certificate must chain to a trusted root and name <see cref="Host"/>.</summary>
    public bool VerifyCertificate { get; init; } = true;

    /// <summary>Roots that replace the system's for this relay (a private authority); null: the system's.</summary>
    public X509Certificate2Collection? TrustedRoots { get; init; }

    // A record prints every property; the password must never reach a log line.
    public override string ToString() =>
        $"RelayPolicy {{ Host = {Host}, Tls = {Tls}, Username = {Username}, VerifyCertificate = {VerifyCertificate} }}";
}

/// <summary>
/// Opens authenticated connections to one smarthost. A relay receives credentials and all the mail, so unlike MX
/// delivery (opportunistic, RFC 7435) it is never trusted blindly: its certificate is verified unless the operator
/// turned that off, a TLS failure is never retried in plain text, and credentials go out only inside TLS unless
/// the policy says <see cref="SmtpTlsMode.None"/>. Every refusal is an <see cref="SmtpClientException"/> whose
/// message says why, which callers treat as a temporary failure (defer and retry).
/// </summary>
public sealed class RelayConnector(RelayPolicy policy)
{
    public RelayPolicy Policy { get; } = policy ?? throw new ArgumentNullException(nameof(policy));

    /// <summary>Connects to <paramref name="endPoint"/> (one address of the relay), with STARTTLS per policy, and
    /// authenticates when credentials are configured. <paramref name="transport"/> gives the EHLO name, timeouts and
    /// source address; its TLS settings are replaced by the policy's.</summary>
    /// <exception cref="SmtpClientException">The relay cannot be reached, is not trusted, or refused us.</exception>
    public async Task<SmtpClientConnection> ConnectAsync(IPEndPoint endPoint, SmtpClientOptions transport, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(transport);
        // One verdict per connection: the callback runs during this connection's handshake only.
        var check = new CertificateCheck(Policy);
        var options = transport with
        {
            TlsMode = Policy.Tls,
            TargetHost = Policy.Host,
            ValidateCertificate = Policy.VerifyCertificate,
            CertificateValidation = check.Validate,
        };
        SmtpClientConnection connection;
        try
        {
            connection = await SmtpClientConnection.ConnectAsync(endPoint, options, cancellationToken).ConfigureAwait(false);
        }
        catch (SmtpClientException e) when (check.Rejection is { } why)
        {
            throw new SmtpClientException($"Relay {Policy.Host} [{endPoint}]: certificate not trusted ({why}); nothing was sent", e.Reply, e);
        }

        try
        {
            if (Policy.Username is { } user)
            {
                if (!connection.IsTls && Policy.Tls != SmtpTlsMode.None)
                {
                    // A relay that does not offer STARTTLS (or an attacker who stripped it from the EHLO reply).
                    throw new SmtpClientException(
                        $"Relay {Policy.Host} [{endPoint}] offered no TLS: credentials are never sent in plain text (only with tls: none)");
                }

                await connection.AuthenticateAsync(user, Policy.Password ?? "", cancellationToken).ConfigureAwait(false);
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The relay's addresses: an IP literal as it is, a name through the system resolver (smarthosts are
    /// often internal names that only /etc/hosts or a search domain knows). Empty when the name does not resolve.</summary>
    public static async Task<IReadOnlyList<IPEndPoint>> ResolveAsync(string host, int port, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        if (IPAddress.TryParse(host, out var literal))
        {
            return [new IPEndPoint(literal, port)];
        }

        try
        {
            var addresses = await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
            return addresses.Select(a => new IPEndPoint(a, port)).ToArray();
        }
        catch (SocketException)
        {
            return [];
        }
    }

    /// <summary>The certificate verdict of one handshake, with the reason when it is a no.</summary>
    private sealed class CertificateCheck(RelayPolicy policy)
    {
        public string? Rejection { get; private set; }

        public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
        {
            if (!policy.VerifyCertificate)
            {
                return true;
            }

            Rejection = Judge(certificate, chain, errors);
            return Rejection is null;
        }

        private string? Judge(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
        {
            if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
            {
                return "no certificate";
            }

            if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            {
                return $"it does not name {policy.Host}";
            }

            if (policy.TrustedRoots is not { } roots)
            {
                return errors == SslPolicyErrors.None ? null : "it does not chain to a trusted root: " + Describe(chain);
            }

            using var custom = new X509Chain();
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.CustomTrustStore.AddRange(roots);
            custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            if (chain is not null)
            {
                // Intermediates the server sent along.
                foreach (var element in chain.ChainElements)
                {
                    custom.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }

            var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            return custom.Build(leaf) ? null : "it does not chain to the configured ca-file: " + Describe(custom);
        }

        private static string Describe(X509Chain? chain) =>
            chain is null || chain.ChainStatus.Length == 0
                ? "untrusted"
                : string.Join(", ", chain.ChainStatus.Select(s => s.Status).Distinct());
    }
}
