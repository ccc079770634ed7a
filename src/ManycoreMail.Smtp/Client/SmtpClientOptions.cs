using System.Net.Security;

namespace ManycoreMail.Smtp.Client;

public enum SmtpTlsMode
{
    /// <summary>Plain text only.</summary>
    None,
    /// <summary>STARTTLS when offered; plain text otherwise; certificates not verified (RFC 7435 opportunistic).</summary>
    Opportunistic,
    /// <summary>STARTTLS must succeed, otherwise the connection fails.</summary>
    Required,
    /// <summary>TLS from the first byte (port 465).</summary>
    Implicit,
}

public sealed record SmtpClientOptions
{
    /// <summary>Our EHLO name.</summary>
    public required string HeloName { get; init; }
    public SmtpTlsMode TlsMode { get; init; } = SmtpTlsMode.Opportunistic;
    /// <summary>Name for SNI and certificate checks (the MX host or relay name).</summary>
    public string? TargetHost { get; init; }
    /// <summary>Validate the server certificate (for relays); opportunistic MX delivery does not.</summary>
    public bool ValidateCertificate { get; init; }
    public RemoteCertificateValidationCallback? CertificateValidation { get; init; }
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Per command reply timeout (RFC 5321 §4.5.3.2 minimums are minutes; keep these generous).</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(5);
    public TimeSpan DataTimeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>Local address to bind before connecting (egress IP).</summary>
    public System.Net.IPAddress? SourceAddress { get; init; }
    /// <summary>Where the transcript goes at Trace level (commands and replies, never the message or AUTH
    /// credentials); null: none.</summary>
    public Microsoft.Extensions.Logging.ILogger? Transcript { get; init; }
}
