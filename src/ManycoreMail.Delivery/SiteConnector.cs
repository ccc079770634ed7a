using System.Net.Sockets;
using ManycoreMail.Smtp;
using ManycoreMail.Smtp.Client;
using ManycoreMail.TransportSecurity;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Delivery;

/// <summary>How to talk to a site: the TLS policy of an MX host set, or a smarthost's <see cref="RelayConnector"/>
/// (its own TLS policy, certificate checks and credentials).</summary>
internal sealed record SitePolicy(SmtpTlsMode Tls, RelayConnector? Relay = null)
{
    /// <summary>Opportunistic MX delivery falls back to plain text for hosts with broken TLS; required TLS and
    /// smarthosts never do.</summary>
    public bool MayFallBackToPlain => Relay is null && Tls == SmtpTlsMode.Opportunistic;
}

/// <summary>A connection that failed for every host: why, and whether any server said something. <paramref name="Refusal"/>
/// is set when every host was refused by the recipient domain's MTA-STS or DANE policy: the domain's mail waits, the
/// site (shared by other domains with the same MX set) is healthy.</summary>
internal sealed record ConnectFailure(string Reason, bool SiteAnswered, SmtpReply? Reply, PolicyRefusal? Refusal = null);

/// <summary>Opens one connection to a site: each host and address by preference until one greets us, STARTTLS per
/// policy (plain text again for a host with broken TLS when the policy allows); a smarthost through its
/// <see cref="RelayConnector"/>, which verifies it and authenticates.</summary>
internal sealed class SiteConnector(string heloName, DeliveryOptions options, TlsMemory tlsMemory, ILogger logger, TransportSecurityGate? security = null)
{
    /// <summary>Whether a connection opened for another domain may carry <paramref name="domain"/>'s mail too: only when
    /// that domain asks nothing of the host (MTA-STS and DANE are per domain and per host).</summary>
    public async Task<bool> MayShareAsync(string domain, SiteHost host, SitePolicy policy, CancellationToken cancellationToken) =>
        policy.Relay is not null || security is null || await security.IsOpportunisticAsync(domain, host.Name, cancellationToken).ConfigureAwait(false);

    public async Task<(SmtpClientConnection? Connection, SiteHost? Host, ConnectFailure? Failure)> ConnectAsync(
        string domain, IReadOnlyList<SiteHost> hosts, SitePolicy policy, CancellationToken cancellationToken, EgressSource? source = null)
    {
        var failures = new List<string>(Math.Min(hosts.Count, 4));
        var answered = false;
        SmtpReply? lastReply = null;
        PolicyRefusal? refusal = null;
        var refusals = 0;
        // MTA-STS and DANE apply to MX delivery; a smarthost has its own TLS settings.
        var secured = policy.Relay is null && security is not null
            ? await security.ResolveAsync(domain, [.. hosts.Select(h => h.Name).Distinct(StringComparer.OrdinalIgnoreCase)], cancellationToken).ConfigureAwait(false)
            : null;
        foreach (var host in hosts)
        {
            var tls = policy.Tls;
            var hostPolicy = secured?.For(host.Name);
            if (hostPolicy is { Skip: not null })
            {
                refusal = security!.Skipped(secured!, hostPolicy);
                refusals++;
                failures.Add(refusal.Reason);
                continue;
            }
            if (hostPolicy is { TlsRequired: true })
            {
                tls = SmtpTlsMode.Required;
            }
            else if (policy.MayFallBackToPlain && tlsMemory.IsBroken(host.Name))
            {
                tls = SmtpTlsMode.None;
            }
            // At most two tries per address: as the policy says, then plain text if TLS itself broke.
            for (var attempt = 0; attempt < 2; attempt++)
            {
                string? certificateRefusal = null;
                try
                {
                    var transport = ClientOptions(host, tls, source);
                    if (secured is not null && hostPolicy is not null)
                    {
                        transport = transport with
                        {
                            CertificateValidation = security!.Validator(secured, hostPolicy, host.EndPoint, r => certificateRefusal = r),
                        };
                    }
                    var connection = policy.Relay is { } relay
                        ? await relay.ConnectAsync(host.EndPoint, transport, cancellationToken).ConfigureAwait(false)
                        : await SmtpClientConnection.ConnectAsync(host.EndPoint, transport, cancellationToken).ConfigureAwait(false);
                    security?.Connected(secured, hostPolicy, host.EndPoint, connection.IsTls);
                    return (connection, host, null);
                }
                catch (Exception e) when (e is SmtpClientException or SocketException or IOException or TimeoutException)
                {
                    var reply = (e as SmtpClientException)?.Reply;
                    answered |= reply is not null;
                    lastReply = reply ?? lastReply;
                    failures.Add($"{host.Name}[{host.EndPoint.Address}]:{host.EndPoint.Port}: {e.Message}");
                    // A smarthost refused (untrusted, no TLS for the credentials) is a configuration or an attack: say so.
                    logger.Log(policy.Relay is null ? LogLevel.Information : LogLevel.Warning,
                        "Could not use {Host} [{EndPoint}]: {Error}", host.Name, host.EndPoint, e.Message);
                    security?.Failed(secured, hostPolicy, host.EndPoint, e, e is SmtpStartTlsException);
                    if (secured is not null && security!.Refusal(secured, hostPolicy, e, certificateRefusal, e is SmtpStartTlsException) is { } refused)
                    {
                        refusal = refused;
                        refusals++;
                        failures[^1] = refused.Reason;
                        break;
                    }
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
        // Only when the policy refused every host is it the domain's failure; any other failure is the site's.
        var byPolicy = refusals > 0 && refusals == failures.Count ? refusal : null;
        return (null, null, new ConnectFailure(reason, answered, lastReply, byPolicy));
    }

    /// <summary>MX hosts are not authenticated (RFC 7435); a relay connector replaces the TLS settings with its own.</summary>
    /// <param name="source">The egress source of the site: its address and HELO name (null: the sender's).</param>
    private SmtpClientOptions ClientOptions(SiteHost host, SmtpTlsMode tls, EgressSource? source) => new()
    {
        HeloName = source?.HeloName ?? heloName,
        TlsMode = tls,
        TargetHost = host.Name,
        SourceAddress = source is null ? options.SourceAddress : source.Address,
        ConnectTimeout = options.ConnectTimeout,
        CommandTimeout = options.CommandTimeout,
        Transcript = logger.IsEnabled(LogLevel.Trace) ? logger : null,
    };

    private static bool IsTlsFailure(Exception e) =>
        e.Message.Contains("TLS", StringComparison.OrdinalIgnoreCase)
        || e.InnerException is System.Security.Authentication.AuthenticationException;
}
