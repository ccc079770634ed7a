using System.Security.Cryptography.X509Certificates;
using ManycoreMail.Config;
using ManycoreMail.Hosting;
using ManycoreMail.Smtp.Server;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Receiver;

/// <summary>SMTP submission (the original Receiver): STARTTLS, AUTH PLAIN/LOGIN only after TLS, trusted
/// networks may submit without AUTH.</summary>
internal sealed class ReceiverRole(
    ReceiverOptions options,
    string serverName,
    X509Certificate2 certificate,
    SubmissionHandler handler,
    ILoggerFactory loggers) : IMailerRole, IAsyncDisposable
{
    private SmtpServer? _server;

    public string Name => RoleNames.Receiver;

    public System.Net.IPEndPoint? BoundEndPoint { get; private set; }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var serverOptions = new SmtpServerOptions
        {
            ServerName = serverName,
            CertificateProvider = () => certificate,
            AuthEnabled = true,
            AuthRequiresTls = true,
            RequireAuthentication = true,
            TrustedNetworks = options.TrustedNetworks,
            MaxMessageSize = options.MaxMessageSize,
        };
        _server = new SmtpServer(serverOptions, handler, loggers.CreateLogger("ManycoreMail.Receiver"));
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
