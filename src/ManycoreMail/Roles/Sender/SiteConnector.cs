using System.Net.Security;
using System.Net.Sockets;
using ManycoreMail.Smtp;
using ManycoreMail.Smtp.Client;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Sender;

/// <summary>How to talk to a site: TLS policy and, for a smarthost, credentials and whether its certificate must be
/// valid (<paramref name="Validation"/> replaces the system's roots when set).</summary>
internal sealed record SitePolicy(SmtpTlsMode Tls, string? Username = null, string? Password = null, bool VerifyCertificate = false,
    RemoteCertificateValidationCallback? Validation = null)
{
    /// <summary>Required TLS never falls back to plain text; opportunistic does, for hosts with broken TLS.</summary>
    public bool MayFallBackToPlain => Tls == SmtpTlsMode.Opportunistic;
}

/// <summary>A connection that failed for every host: why, and whether any server said something.</summary>
internal sealed record ConnectFailure(string Reason, bool SiteAnswered, SmtpReply? Reply);

/// <summary>Opens one connection to a site: each host and address by preference until one greets us, STARTTLS per
/// policy (plain text again for a host with broken TLS when the policy allows), AUTH for smarthosts.</summary>
internal sealed class SiteConnector(string heloName, DeliveryOptions options, TlsMemory tlsMemory, ILogger logger)
{
    public async Task<(SmtpClientConnection? Connection, SiteHost? Host, ConnectFailure? Failure)> ConnectAsync(
        IReadOnlyList<SiteHost> hosts, SitePolicy policy, CancellationToken cancellationToken)
    {
        var failures = new List<string>(Math.Min(hosts.Count, 4));
        var answered = false;
        SmtpReply? lastReply = null;
        foreach (var host in hosts)
        {
            var tls = policy.Tls;
            if (policy.MayFallBackToPlain && tlsMemory.IsBroken(host.Name))
            {
                tls = SmtpTlsMode.None;
            }
            // At most two tries per address: as the policy says, then plain text if TLS itself broke.
            for (var attempt = 0; attempt < 2; attempt++)
            {
                try
                {
                    var connection = await SmtpClientConnection.ConnectAsync(host.EndPoint, ClientOptions(host, tls, policy), cancellationToken).ConfigureAwait(false);
                    if (policy.Username is { } user)
                    {
                        try
                        {
                            await connection.AuthenticateAsync(user, policy.Password ?? "", cancellationToken).ConfigureAwait(false);
                        }
                        catch
                        {
                            await connection.DisposeAsync().ConfigureAwait(false);
                            throw;
                        }
                    }
                    return (connection, host, null);
                }
                catch (Exception e) when (e is SmtpClientException or SocketException or IOException or TimeoutException)
                {
                    var reply = (e as SmtpClientException)?.Reply;
                    answered |= reply is not null;
                    lastReply = reply ?? lastReply;
                    failures.Add($"{host.Name}[{host.EndPoint.Address}]:{host.EndPoint.Port}: {e.Message}");
                    logger.LogInformation("Could not use {Host} [{EndPoint}]: {Error}", host.Name, host.EndPoint, e.Message);
                    if (tls == SmtpTlsMode.Opportunistic && policy.MayFallBackToPlain && IsTlsFailure(e))
                    {
                        // RFC 7435: opportunistic TLS must never make mail undeliverable.
                        tlsMemory.MarkBroken(host.Name);
                        tls = SmtpTlsMode.None;
                        answered = true;
                        continue;
                    }
                    break;
                }
            }
        }
        var reason = failures.Count == 0 ? "no usable mail host" : string.Join("; ", failures.TakeLast(3));
        return (null, null, new ConnectFailure(reason, answered, lastReply));
    }

    private SmtpClientOptions ClientOptions(SiteHost host, SmtpTlsMode tls, SitePolicy policy) => new()
    {
        HeloName = heloName,
        TlsMode = tls,
        TargetHost = host.Name,
        ValidateCertificate = policy.VerifyCertificate,
        CertificateValidation = policy.VerifyCertificate ? policy.Validation : null,
        SourceAddress = options.SourceAddress,
        ConnectTimeout = options.ConnectTimeout,
        CommandTimeout = options.CommandTimeout,
    };

    private static bool IsTlsFailure(Exception e) =>
        e.Message.Contains("TLS", StringComparison.OrdinalIgnoreCase)
        || e.InnerException is System.Security.Authentication.AuthenticationException;
}
