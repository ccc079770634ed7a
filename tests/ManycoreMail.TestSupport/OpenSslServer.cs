using System.Net;
using System.Net.Sockets;

namespace ManycoreMail.TestSupport;

/// <summary>openssl s_server on 127.0.0.1 serving files from a directory over HTTPS (-WWW): a real TLS peer for
/// handshakes and the MTA-STS policy server.</summary>
public sealed class OpenSslServer : IDisposable
{
    private readonly PeerProcess _process;

    private OpenSslServer(PeerProcess process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public string Output => _process.Output;

    public static async Task<OpenSslServer> StartAsync((string Certificate, string Key, string Chain) files, string webRoot)
    {
        var port = FreePort.Tcp();
        List<string> arguments = ["s_server", "-accept", $"127.0.0.1:{port}", "-cert", files.Certificate, "-key", files.Key, "-WWW", "-quiet"];
        if (new FileInfo(files.Chain).Length > 0)
        {
            arguments.AddRange(["-cert_chain", files.Chain]);
        }

        var process = PeerProcess.Start("/usr/bin/openssl", arguments, webRoot);
        var server = new OpenSslServer(process, port);
        try
        {
            await Eventually.TrueAsync(() => !process.HasExited && Accepts(port), TimeSpan.FromSeconds(20), "openssl s_server to listen");
            return server;
        }
        catch (TimeoutException e)
        {
            server.Dispose();
            throw new InvalidOperationException($"{e.Message}: {process.Output}", e);
        }
    }

    public void Dispose() => _process.Dispose();

    private static bool Accepts(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
