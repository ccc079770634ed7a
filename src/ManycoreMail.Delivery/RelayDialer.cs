using ManycoreMail.Smtp.Client;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Delivery;

/// <summary>
/// Opens a connection to one smarthost for a caller outside the engine (the MX forwarder's <c>route: relay</c>), by
/// the path the sender's relay sites take: every address of the relay in turn, through the relay's
/// <see cref="RelayConnector"/> (certificate checks, credentials only inside TLS, never a plain-text fallback).
/// </summary>
internal sealed class RelayDialer
{
    private readonly RelayRoute _relay;
    private readonly SiteConnector _connector;
    private readonly SitePolicy _policy;

    public RelayDialer(RelayRoute relay, string heloName, TimeSpan connectTimeout, TimeSpan commandTimeout, TimeProvider time, ILogger logger)
    {
        _relay = relay;
        var options = new DeliveryOptions { ConnectTimeout = connectTimeout, CommandTimeout = commandTimeout };
        // A relay policy never falls back to plain text, so the broken-TLS memory is never consulted.
        _connector = new SiteConnector(heloName, options, new TlsMemory(TimeSpan.Zero, time), logger);
        _policy = new SitePolicy(relay.Tls, relay.CreateConnector());
    }

    /// <summary>A greeted (and, as the relay's policy says, secured and authenticated) connection, or why there is none.</summary>
    public async Task<(SmtpClientConnection? Connection, ConnectFailure? Failure)> ConnectAsync(CancellationToken cancellationToken)
    {
        var hosts = await _relay.ResolveAsync(cancellationToken).ConfigureAwait(false);
        if (hosts.Count == 0)
        {
            return (null, new ConnectFailure($"relay host {_relay.Host} has no address", false, null));
        }
        var (connection, _, failure) = await _connector.ConnectAsync(hosts, _policy, cancellationToken).ConfigureAwait(false);
        return (connection, failure);
    }
}
