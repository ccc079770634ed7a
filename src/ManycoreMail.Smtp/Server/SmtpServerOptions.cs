using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace ManycoreMail.Smtp.Server;

public sealed record SmtpServerOptions
{
    /// <summary>Our name in the greeting and the EHLO reply.</summary>
    public required string ServerName { get; init; }

    /// <summary>Certificate for STARTTLS; null means STARTTLS is not offered.</summary>
    public Func<X509Certificate2?> CertificateProvider { get; init; } = static () => null;

    /// <summary>Offer AUTH PLAIN and LOGIN (validated through <see cref="ISmtpHandler.AuthenticateAsync"/>).</summary>
    public bool AuthEnabled { get; init; }

    /// <summary>AUTH is offered and accepted only over TLS (or from trusted networks).</summary>
    public bool AuthRequiresTls { get; init; } = true;

    /// <summary>MAIL is refused (530 5.7.0) until the client authenticated, unless it is in a trusted network.</summary>
    public bool RequireAuthentication { get; init; }

    /// <summary>Clients in these networks count as trusted (may submit without AUTH, AUTH without TLS).</summary>
    public IReadOnlyList<IPNetwork> TrustedNetworks { get; init; } = [];

    public long MaxMessageSize { get; init; } = 32 * 1024 * 1024;
    public int MaxRecipients { get; init; } = 100;
    public int MaxErrors { get; init; } = 10;
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(5);
    public TimeSpan DataTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Longest text line in DATA, counted with its CR LF (RFC 5321 §4.5.3.1.6: 1000).
    /// A longer line gets "500 5.5.2" after the end of data.</summary>
    public int MaxDataLineLength { get; init; } = 1000;

    /// <summary>Pause before answering a failed AUTH, to slow down password guessing.</summary>
    public TimeSpan AuthFailureDelay { get; init; } = TimeSpan.FromSeconds(1);
}
