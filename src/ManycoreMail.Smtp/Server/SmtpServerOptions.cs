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
    /// <summary>Protocol errors a session may make; the next one gets "421 4.7.0" and the connection closes.</summary>
    public int MaxErrors { get; init; } = 10;

    /// <summary>How long we wait for a command (RFC 5321 §4.5.3.2.7: at least 5 minutes).</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long we wait for the next piece of DATA/BDAT content (RFC 5321 §4.5.3.2.5-6: 3 and 10 minutes;
    /// we use the longer one for every block since a slow sender is not an attacker).</summary>
    public TimeSpan DataTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Sessions open at once; one more is told "421 4.7.0" and closed.</summary>
    public int MaxSessions { get; init; } = 1000;

    /// <summary>Sessions open at once from one client IP address (the real one with the PROXY protocol).</summary>
    public int MaxSessionsPerClient { get; init; } = 100;

    /// <summary>Failed AUTH attempts a session may make; the last one closes it with "421 4.7.0".
    /// Each failure waits <see cref="AuthFailureDelay"/> times the number of failures so far.</summary>
    public int MaxAuthFailures { get; init; } = 3;

    /// <summary>Each connection must begin with a PROXY protocol header (v1 text or v2 binary): the client
    /// address it carries is the one trusted-networks, limits and logs see. Without a valid header the
    /// connection is closed without a word.</summary>
    public bool ProxyProtocol { get; init; }

    /// <summary>With <see cref="ProxyProtocol"/>, the peers (load balancers) whose PROXY header is believed. A
    /// connection from any other peer is closed before a byte of it is read: whoever could send a header could
    /// claim any address, a trusted one included. Empty: no peer is believed.</summary>
    public IReadOnlyList<IPNetwork> ProxyProtocolFrom { get; init; } = [];

    /// <summary>How long a load balancer gets for its PROXY header (it sends it at once on connect).</summary>
    public TimeSpan ProxyHeaderTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A session open this long is told "421 4.4.2" and closed, however busy it is.</summary>
    public TimeSpan MaxSessionLifetime { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>While message content arrives, each <see cref="DataRateWindow"/> must bring at least this many
    /// bytes per second on average, or the session is told "421 4.4.2" and closed. 0: no minimum.</summary>
    public int MinDataRate { get; init; } = 1024;

    /// <summary>The span over which <see cref="MinDataRate"/> is measured; the first one is the grace period
    /// a slow start gets.</summary>
    public TimeSpan DataRateWindow { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Memory the bodies being received may take at once, over all sessions of the server. Past it a
    /// new DATA or BDAT is refused with "452 4.3.1" before its content is read, and a body that would cross it
    /// is dropped and refused the same way.</summary>
    public long MaxReceivingBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Holds each new message before its content is read (before the 354 to DATA, before the first BDAT chunk
    /// is read) while the host wants arrivals slowed; null: never held.</summary>
    public IInFlowControl? InFlow { get; init; }

    /// <summary>Counts failed AUTH per client across sessions and refuses (454 4.7.0) clients with too many.</summary>
    public IAuthenticationThrottle? AuthThrottle { get; init; }

    /// <summary>Offer SMTPUTF8 (RFC 6531): UTF-8 addresses are accepted in a transaction that declared it.</summary>
    public bool Smtputf8 { get; init; } = true;

    /// <summary>Offer CHUNKING (RFC 3030, BDAT).</summary>
    public bool Chunking { get; init; } = true;

    /// <summary>Offer DSN (RFC 3461): NOTIFY, ORCPT, RET and ENVID are parsed and handed to the handler.</summary>
    public bool Dsn { get; init; } = true;

    /// <summary>Longest text line in DATA, counted with its CR LF (RFC 5321 §4.5.3.1.6: 1000).
    /// A longer line gets "500 5.5.2" after the end of data.</summary>
    public int MaxDataLineLength { get; init; } = 1000;

    /// <summary>Pause before answering a failed AUTH, to slow down password guessing.</summary>
    public TimeSpan AuthFailureDelay { get; init; } = TimeSpan.FromSeconds(1);
}
