using System.Net;
using System.Net.Sockets;

namespace ManycoreMail.TestSupport;

/// <summary>Free loopback ports for peers that cannot bind port 0 themselves.</summary>
/// <remarks>
/// A port is handed out some time before its peer binds it, so two things must not take it in between. The kernel
/// would: a port it chose for a port-0 bind is back in its ephemeral range once released, and any outgoing connection
/// of any process may get it as its local port (CI saw a mailer's listener fail with "address already in use" so).
/// Ports are therefore chosen below the ephemeral range, where the kernel never picks on its own. And the test
/// assemblies, which run side by side as separate processes, would: each port is reserved by an exclusive lock on a
/// file named after it, held until the process ends (and released by the kernel if it dies).
/// </remarks>
public static class FreePort
{
    private const int LowestPort = 10_000;

    // The locks this process holds; never released before it ends, so no port is handed out twice.
    private static readonly List<FileStream> Reserved = [];
    // One per user: another user's directory may not be writable here.
    private static readonly string ReservationDirectory = Path.Combine(Path.GetTempPath(), $"manycore-mail-test-ports-{Environment.UserName}");

    /// <summary>A TCP port that is free on <paramref name="address"/> (127.0.0.1 by default), outside the kernel's
    /// ephemeral range, and not handed out before by this or any other process using this class.</summary>
    public static int Tcp(IPAddress? address = null) => Reserve(address ?? IPAddress.Loopback, udpToo: false);

    /// <summary>A port free for both UDP and TCP (for DNS servers).</summary>
    public static int UdpAndTcp(IPAddress? address = null) => Reserve(address ?? IPAddress.Loopback, udpToo: true);

    private static int Reserve(IPAddress address, bool udpToo)
    {
        var (first, last) = CandidateRange();
        var count = last - first + 1;
        var start = Random.Shared.Next(count);
        Directory.CreateDirectory(ReservationDirectory);
        lock (Reserved)
        {
            for (var offset = 0; offset < Math.Min(count, 2_000); offset++)
            {
                var port = first + (start + offset) % count;
                if (TryLock(port) is not { } reservation)
                {
                    continue;
                }
                if (CanBind(address, port, udpToo))
                {
                    Reserved.Add(reservation);
                    return port;
                }
                reservation.Dispose(); // taken by something else; leave it to whoever may want it later
            }
        }
        throw new InvalidOperationException($"No free {(udpToo ? "UDP+TCP" : "TCP")} port found on {address} in {first}-{last}");
    }

    /// <summary>Ports the kernel does not choose by itself: below its ephemeral range, or above it when that starts too low.</summary>
    private static (int First, int Last) CandidateRange()
    {
        var (ephemeralFirst, ephemeralLast) = (32_768, 60_999);
        try
        {
            var fields = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            (ephemeralFirst, ephemeralLast) = (int.Parse(fields[0]), int.Parse(fields[1]));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            // not Linux, or unreadable: assume the kernel's default
        }
        return ephemeralFirst - LowestPort >= 1_000 ? (LowestPort, ephemeralFirst - 1) : (ephemeralLast + 1, 65_535);
    }

    /// <summary>The file whose lock reserves <paramref name="port"/>.</summary>
    public static string ReservationFile(int port) =>
        Path.Combine(ReservationDirectory, port.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static FileStream? TryLock(int port)
    {
        try
        {
            // FileShare.None takes an exclusive advisory lock on Unix: a second opener, in any process, fails.
            return new FileStream(ReservationFile(port), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static bool CanBind(IPAddress address, int port, bool udpToo)
    {
        try
        {
            using (var tcp = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp))
            {
                tcp.Bind(new IPEndPoint(address, port));
                tcp.Listen();
            }
            if (udpToo)
            {
                using var udp = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                udp.Bind(new IPEndPoint(address, port));
            }
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
