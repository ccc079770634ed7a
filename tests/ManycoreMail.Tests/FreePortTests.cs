using System.Net;
using System.Net.Sockets;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Tests;

/// <summary>The tests' free ports: a port handed out must stay free for its peer until the peer binds it.</summary>
public sealed class FreePortTests
{
    [Fact]
    public void Ports_are_outside_the_kernels_ephemeral_range_distinct_and_bindable()
    {
        var (ephemeralFirst, ephemeralLast) = EphemeralRange();
        var ports = Enumerable.Range(0, 40).Select(_ => FreePort.Tcp()).Concat(Enumerable.Range(0, 4).Select(_ => FreePort.UdpAndTcp())).ToList();

        Assert.Equal(ports.Count, ports.Distinct().Count());
        Assert.All(ports, port => Assert.True(port < ephemeralFirst || port > ephemeralLast, $"{port} is in {ephemeralFirst}-{ephemeralLast}"));
        Assert.All(ports, port =>
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
        });
    }

    [Fact]
    public void A_handed_out_port_stays_reserved_against_every_other_opener()
    {
        var port = FreePort.Tcp();

        // The lock is what keeps the other test processes off the port; flock conflicts within a process too.
        Assert.ThrowsAny<IOException>(() => new FileStream(FreePort.ReservationFile(port), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
    }

    private static (int First, int Last) EphemeralRange()
    {
        var fields = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return (int.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture));
    }
}
