using System.Net;
using ManycoreMail.Smtp.Server;

namespace ManycoreMail.Smtp.Tests.Support;

/// <summary>An <see cref="SmtpServer"/> on 127.0.0.1 with a recording handler.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private TestServer(SmtpServer server, IPEndPoint endPoint, RecordingHandler handler, TestLogger logger)
    {
        Server = server;
        EndPoint = endPoint;
        Handler = handler;
        Logger = logger;
    }

    public SmtpServer Server { get; }
    public IPEndPoint EndPoint { get; }
    public RecordingHandler Handler { get; }
    public TestLogger Logger { get; }

    public static SmtpServerOptions DefaultOptions => new()
    {
        ServerName = "mx.test",
        CommandTimeout = TimeSpan.FromSeconds(30),
        DataTimeout = TimeSpan.FromSeconds(30),
        AuthFailureDelay = TimeSpan.FromMilliseconds(10),
    };

    public static TestServer Start(SmtpServerOptions? options = null, RecordingHandler? handler = null, IPEndPoint? bind = null, TestLogger? logger = null)
    {
        handler ??= new RecordingHandler();
        logger ??= new TestLogger();
        var server = new SmtpServer(options ?? DefaultOptions, handler, logger);
        var endPoint = server.Start(bind ?? new IPEndPoint(IPAddress.Loopback, 0));
        return new TestServer(server, endPoint, handler, logger);
    }

    public Task<RawSmtpClient> ConnectRawAsync() => RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, EndPoint.Port));

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}
