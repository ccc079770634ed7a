using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Dns.Tests.Support;

/// <summary>A query as the scripted server saw it.</summary>
internal sealed record ReceivedQuery(byte[] Bytes, bool OverTcp)
{
    public ushort Id => BinaryPrimitives.ReadUInt16BigEndian(Bytes);

    public ushort AdditionalCount => BinaryPrimitives.ReadUInt16BigEndian(Bytes.AsSpan(10));

    /// <summary>The question name as written on the wire, dotted.</summary>
    public string Name
    {
        get
        {
            var labels = new List<string>();
            for (var i = 12; Bytes[i] != 0; i += Bytes[i] + 1)
            {
                labels.Add(System.Text.Encoding.ASCII.GetString(Bytes, i + 1, Bytes[i]));
            }

            return string.Join('.', labels);
        }
    }
}

/// <summary>A DNS server on 127.0.0.1 (UDP and TCP, same port) whose every answer a test scripts, and which records
/// what it was asked. The script returns the messages to send back (none: stay silent).</summary>
internal sealed class ScriptedDnsServer : IDisposable
{
    private readonly Func<ReceivedQuery, IReadOnlyList<byte[]>> _script;
    private readonly UdpClient _udp;
    private readonly TcpListener _tcp;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<ReceivedQuery> _queries = [];
    private readonly Task _udpLoop;
    private readonly Task _tcpLoop;

    public ScriptedDnsServer(Func<ReceivedQuery, IReadOnlyList<byte[]>> script)
    {
        _script = script;
        var port = FreePort.UdpAndTcp();
        _udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, port));
        _tcp = new TcpListener(IPAddress.Loopback, port);
        _tcp.Start();
        EndPoint = new IPEndPoint(IPAddress.Loopback, port);
        _udpLoop = ServeUdpAsync();
        _tcpLoop = ServeTcpAsync();
    }

    public IPEndPoint EndPoint { get; }

    public IReadOnlyList<ReceivedQuery> Queries
    {
        get
        {
            lock (_queries)
            {
                return [.. _queries];
            }
        }
    }

    public DnsResolverOptions Options(int attempts = 1, TimeSpan? timeout = null) => new()
    {
        Servers = [EndPoint],
        Attempts = attempts,
        Timeout = timeout ?? TimeSpan.FromSeconds(5),
    };

    public void Dispose()
    {
        _stop.Cancel();
        _udp.Dispose();
        _tcp.Stop();
        Task.WaitAll([_udpLoop, _tcpLoop], TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }

    private IReadOnlyList<byte[]> Answer(ReceivedQuery query)
    {
        lock (_queries)
        {
            _queries.Add(query);
        }

        return _script(query);
    }

    private async Task ServeUdpAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var received = await _udp.ReceiveAsync(_stop.Token);
                foreach (var reply in Answer(new ReceivedQuery(received.Buffer, OverTcp: false)))
                {
                    await _udp.SendAsync(reply, received.RemoteEndPoint, _stop.Token);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                // the client went away (ICMP unreachable); keep serving
            }
        }
    }

    private async Task ServeTcpAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                using var client = await _tcp.AcceptTcpClientAsync(_stop.Token);
                var stream = client.GetStream();
                var prefix = new byte[2];
                await stream.ReadExactlyAsync(prefix, _stop.Token);
                var query = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
                await stream.ReadExactlyAsync(query, _stop.Token);
                foreach (var reply in Answer(new ReceivedQuery(query, OverTcp: true)))
                {
                    var framed = new byte[reply.Length + 2];
                    BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)reply.Length);
                    reply.CopyTo(framed, 2);
                    await stream.WriteAsync(framed, _stop.Token);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (Exception e) when (e is IOException or SocketException)
            {
                // a client that hung up early; keep serving
            }
        }
    }
}
