using System.Security.Cryptography;
using ManycoreMail.Config;
using ManycoreMail.Delivery;
using ManycoreMail.Smtp.Client;

namespace ManycoreMail.Relay;

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

    private static void CheckCaFile(YamlSection section, string caFile)
    {
        if (!File.Exists(caFile))
        {
            section.Error("ca-file", $"'{caFile}' does not exist");
            return;
        }
        try
        {
            var roots = RelayRoute.LoadRoots(caFile);
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
