using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ManycoreMail.Config;
using ManycoreMail.Smtp.Client;

namespace ManycoreMail.Relay;

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
        TrustedRoots = CaFile is null ? null : RelayRouteReader.LoadRoots(CaFile),
    });

    // A record prints every property; the password must never reach a log line.
    public override string ToString() =>
        $"RelayRoute {{ Host = {Host}, Port = {Port}, Tls = {Tls}, Username = {Username}, CaFile = {CaFile}, VerifyCertificate = {VerifyCertificate} }}";
}

/// <summary>Reads a smarthost's keys, the same wherever one is configured: <c>host</c>, <c>port</c> (25),
/// <c>tls</c>, <c>username</c> and <c>password</c>, <c>ca-file</c>, <c>verify-certificate</c>.</summary>
internal static class RelayRouteReader
{
    /// <param name="verifyDefault">What <c>verify-certificate</c> is when the section does not say (a section-wide
    /// key such as <c>sender/verify-relay-certificates</c>); true when null.</param>
    public static RelayRoute? Read(YamlSection section, bool? verifyDefault = null)
    {
        var host = section.String("host", required: true);
        var port = section.Port("port") ?? 25;
        var tlsText = section.String("tls");
        var tls = tlsText?.Trim().ToLowerInvariant() switch
        {
            null => RelayRoute.DefaultTlsFor(port),
            "none" or "off" => SmtpTlsMode.None,
            "opportunistic" or "may" => SmtpTlsMode.Opportunistic,
            "starttls" or "required" => SmtpTlsMode.Required,
            "implicit" or "tls" or "smtps" => SmtpTlsMode.Implicit,
            _ => InvalidTls(section, tlsText),
        };
        var user = section.String("username");
        var password = section.String("password");
        if ((user is null) != (password is null))
        {
            section.Error(user is null ? "username" : "password", "username and password go together");
        }
        var caFile = section.String("ca-file");
        if (caFile is not null)
        {
            CheckCaFile(section, caFile);
        }
        var verify = section.Bool("verify-certificate") ?? verifyDefault ?? true;
        return host is null ? null : new RelayRoute(host.Trim(), port, tls, user, password, caFile) { VerifyCertificate = verify };
    }

    /// <summary>The certificates of a PEM file, as trust anchors.</summary>
    public static X509Certificate2Collection LoadRoots(string caFile)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(caFile);
        return roots;
    }

    private static void CheckCaFile(YamlSection section, string caFile)
    {
        if (!File.Exists(caFile))
        {
            section.Error("ca-file", $"'{caFile}' does not exist");
            return;
        }
        try
        {
            var roots = LoadRoots(caFile);
            if (roots.Count == 0)
            {
                section.Error("ca-file", $"'{caFile}' holds no PEM certificate");
            }
            foreach (var root in roots)
            {
                root.Dispose();
            }
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            section.Error("ca-file", $"'{caFile}' cannot be read as PEM certificates: {e.Message}");
        }
    }

    private static SmtpTlsMode InvalidTls(YamlSection section, string text)
    {
        section.Error("tls", $"'{text}' is not one of none, opportunistic, starttls, implicit");
        return SmtpTlsMode.Opportunistic;
    }
}
