using System.Net;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Smtp.Server;

/// <summary>An ESMTP server: accept loop plus one session per connection.</summary>
public sealed class SmtpServer(SmtpServerOptions options, ISmtpHandler handler, ILogger logger) : IAsyncDisposable
{
    /// <summary>Bind and start accepting. Returns the bound endpoint (useful with port 0).</summary>
    public IPEndPoint Start(IPEndPoint endPoint) => throw new NotImplementedException();

    /// <summary>Stop accepting, let sessions finish within the token's deadline, then close them.</summary>
    public Task StopAsync(CancellationToken cancellationToken) => throw new NotImplementedException();

    public ValueTask DisposeAsync() => throw new NotImplementedException();
}
