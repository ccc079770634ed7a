using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ManycoreMail.Smtp.Tests.Support;

/// <summary>A fake SMTP server that follows a script, for client behaviour our own server never shows.</summary>
public sealed class ScriptedPeer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Task _run;
    private readonly CancellationTokenSource _stop = new();

    public ScriptedPeer(Func<ScriptedConnection, Task> script)
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        EndPoint = (IPEndPoint)_listener.LocalEndpoint;
        _run = RunAsync(script);
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Every line the client sent, in order.</summary>
    public ConcurrentQueue<string> Received { get; } = new();

    /// <summary>The script's outcome (rethrows its assertion failures).</summary>
    public Task Completion => _run;

    private async Task RunAsync(Func<ScriptedConnection, Task> script)
    {
        using var socket = await _listener.AcceptSocketAsync(_stop.Token);
        await using var connection = new ScriptedConnection(socket, Received, _stop.Token);
        await script(connection);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _run;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException)
        {
            // The script was cut short by the end of the test.
        }

        _stop.Dispose();
    }
}

public sealed class ScriptedConnection(Socket socket, ConcurrentQueue<string> received, CancellationToken cancellationToken) : IAsyncDisposable
{
    private readonly NetworkStream _stream = new(socket, ownsSocket: false);
    private readonly List<byte> _pending = [];

    /// <summary>How many separate reads delivered the lines so far (to see what arrived in one write).</summary>
    public List<List<string>> Batches { get; } = [];

    public async Task SendAsync(string text)
    {
        await _stream.WriteAsync(Encoding.ASCII.GetBytes(text), cancellationToken);
    }

    public async Task<string> ReadLineAsync()
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        var buffer = new byte[65536];
        while (true)
        {
            for (var i = 1; i < _pending.Count; i++)
            {
                if (_pending[i - 1] == '\r' && _pending[i] == '\n')
                {
                    var line = Encoding.Latin1.GetString([.. _pending.GetRange(0, i - 1)]);
                    _pending.RemoveRange(0, i + 1);
                    received.Enqueue(line);
                    return line;
                }
            }

            var read = await _stream.ReadAsync(buffer, timeout.Token);
            if (read == 0)
            {
                throw new IOException("client closed");
            }

            _pending.AddRange(buffer.AsSpan(0, read));
            Batches.Add([]);
        }
    }

    /// <summary>Lines that are already buffered (arrived in the same read as the last line).</summary>
    public int BufferedLineCount
    {
        get
        {
            var count = 0;
            for (var i = 1; i < _pending.Count; i++)
            {
                if (_pending[i - 1] == '\r' && _pending[i] == '\n')
                {
                    count++;
                }
            }

            return count;
        }
    }

    public async Task<string> ExpectAsync(string prefix)
    {
        var line = await ReadLineAsync();
        Assert.StartsWith(prefix, line, StringComparison.Ordinal);
        return line;
    }

    public async ValueTask DisposeAsync() => await _stream.DisposeAsync();
}
