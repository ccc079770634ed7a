using System.Net;
using ManycoreMail.Config;
using ManycoreMail.Smtp.Server;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Hosting;

/// <summary>A role that is an SMTP listener (the receiver and the MX server): the protocol is the library's,
/// the decisions are the handler's.</summary>
internal sealed class SmtpListenerRole(string name, SmtpServerOptions options, IPEndPoint bind, ISmtpHandler handler, ILogger logger)
    : IMailerRole, IAsyncDisposable
{
    private SmtpServer? _server;

    public string Name { get; } = name;

    /// <summary>The section's limits (receiver/ or mxserver/) on top of a role's own options.</summary>
    public static SmtpServerOptions Apply(SmtpServerOptions options, SmtpListenerSettings settings) => options with
    {
        MaxSessions = settings.MaxSessions,
        MaxSessionsPerClient = settings.MaxSessionsPerClient,
        MaxRecipients = settings.MaxRecipients,
        MaxErrors = settings.MaxErrors,
        MaxAuthFailures = settings.MaxAuthFailures,
        CommandTimeout = settings.CommandTimeout,
        DataTimeout = settings.DataTimeout,
        ProxyProtocol = settings.ProxyProtocol,
        ProxyProtocolFrom = settings.ProxyProtocolFrom,
        MaxSessionLifetime = settings.MaxSessionLifetime,
        MinDataRate = settings.MinDataRate,
        DataRateWindow = settings.DataRateWindow,
        MaxReceivingBytes = settings.MaxReceivingBytes,
    };

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _server = new SmtpServer(options, handler, logger);
        _server.Start(bind);
        return Task.CompletedTask;
    }

    /// <summary>Stops accepting at once; sessions in a transaction may finish it until the token fires,
    /// then get "421 4.3.2". Nothing acknowledged is lost: 250 is only said once a message is durable.</summary>
    public Task StopAsync(CancellationToken cancellationToken) =>
        _server?.StopAsync(cancellationToken) ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
        }
    }
}
