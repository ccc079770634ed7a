using System.Net;
using System.Net.Sockets;

namespace ManycoreMail.TestSupport;

/// <summary>Free loopback ports for peers that cannot bind port 0 themselves.</summary>
public static class FreePort
{
    // Ports handed out by this process: never hand one out twice, so tests running in parallel cannot be
    // given the same port before either has bound it.
    private static readonly HashSet<int> Given = [];

    /// <summary>A TCP port that was free a moment ago on <paramref name="address"/> (127.0.0.1 by default)
    /// and was not handed out before in this process. Peers started on it should be retried on a new port
    /// if binding fails.</summary>
    public static int Tcp(IPAddress? address = null)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var listener = new TcpListener(address ?? IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            lock (Given)
            {
                if (Given.Add(port) || attempt > 100)
                {
                    return port;
                }
            }
        }
    }

    /// <summary>A port free for both UDP and TCP (for DNS servers).</summary>
    public static int UdpAndTcp(IPAddress? address = null)
    {
        address ??= IPAddress.Loopback;
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var port = Tcp(address);
            try
            {
                using var udp = new UdpClient(new IPEndPoint(address, port));
                return port;
            }
            catch (SocketException)
            {
                // taken for UDP; try another
            }
        }
        throw new InvalidOperationException("No free UDP+TCP port found on " + address);
    }
}
