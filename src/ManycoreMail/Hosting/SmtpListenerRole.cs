using System.Net;
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

    public IPEndPoint? BoundEndPoint { get; private set; }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _server = new SmtpServer(options, handler, logger);
        BoundEndPoint = _server.Start(bind);
        return Task.CompletedTask;
    }

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
