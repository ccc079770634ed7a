using System.Security.Cryptography.X509Certificates;
using ManycoreMail.Config;
using ManycoreMail.Hosting;
using ManycoreMail.Smtp.Server;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.MxServer;

/// <summary>The MX server role: SMTP for our return-path domains, STARTTLS offered, no AUTH, no relay.</summary>
internal sealed class MxServerRole(
    MxServerOptions options,
    string serverName,
    X509Certificate2 certificate,
    MxHandler handler,
    ILoggerFactory loggers) : IMailerRole, IAsyncDisposable
{
    private SmtpServer? _server;

    public string Name => RoleNames.MxServer;

    public System.Net.IPEndPoint? BoundEndPoint { get; private set; }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var serverOptions = new SmtpServerOptions
        {
            ServerName = serverName,
            CertificateProvider = () => certificate,
            AuthEnabled = false,
            RequireAuthentication = false,
            MaxMessageSize = options.MaxMessageSize,
        };
        _server = new SmtpServer(serverOptions, handler, loggers.CreateLogger("ManycoreMail.MxServer"));
        BoundEndPoint = _server.Start(options.Bind);
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
