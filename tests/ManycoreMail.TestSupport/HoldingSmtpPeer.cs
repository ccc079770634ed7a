using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ManycoreMail.TestSupport;

/// <summary>
/// An SMTP server on 127.0.0.1 that accepts everything, counts the connections open at once (and the most ever open),
/// and can hold its answer to each message's end of DATA until the test lets go: a client's connections then stay open
/// and busy for as long as the test needs to look at them.
/// </summary>
public sealed class HoldingSmtpPeer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly ConcurrentBag<Task> _sessions = [];
    private readonly Lock _lock = new();
    private TaskCompletionSource _gate = Released();
    private int _open;
    private int _maxOpen;
    private int _messages;

    private HoldingSmtpPeer()
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    /// <summary>Connections open now.</summary>
    public int Open { get { lock (_lock) return _open; } }

    /// <summary>The most connections ever open at once.</summary>
    public int MaxOpen { get { lock (_lock) return _maxOpen; } }

    /// <summary>Messages accepted (answered 250 after DATA).</summary>
    public int MessageCount => Volatile.Read(ref _messages);

    public static HoldingSmtpPeer Start() => new();

    /// <summary>From now on, each message's final answer waits for <see cref="Release"/>.</summary>
    public void Hold()
    {
        lock (_lock)
        {
            if (_gate.Task.IsCompleted)
            {
                _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    /// <summary>Answers every held message, and those to come.</summary>
    public void Release()
    {
        lock (_lock)
        {
            _gate.TrySetResult();
        }
    }

    private static TaskCompletionSource Released()
    {
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        released.SetResult();
        return released;
    }

    private async Task AcceptAsync()
    {
        try
        {
            // Bounded by the test: ends when the listener stops.
            while (!_stop.IsCancellationRequested)
            {
                var socket = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
                lock (_lock)
                {
                    _open++;
                    _maxOpen = Math.Max(_maxOpen, _open);
                }
                _sessions.Add(ServeAsync(socket));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        try
        {
            using var _ = socket;
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            using var reader = new StreamReader(stream, new UTF8Encoding(false), leaveOpen: true);
            await using var writer = new StreamWriter(stream, new UTF8Encoding(false), leaveOpen: true) { NewLine = "\r\n", AutoFlush = true };
            await writer.WriteLineAsync("220 holder.test ESMTP").ConfigureAwait(false);
            // Bounded by the client: each pass reads one line, and the loop ends when it closes or quits.
            while (await reader.ReadLineAsync(_stop.Token).ConfigureAwait(false) is { } line)
            {
                var verb = (line.Length >= 4 ? line[..4] : line).ToUpperInvariant();
                switch (verb)
                {
                    case "EHLO":
                        await writer.WriteLineAsync("250-holder.test").ConfigureAwait(false);
                        await writer.WriteLineAsync("250 8BITMIME").ConfigureAwait(false);
                        break;
                    case "DATA":
                        await writer.WriteLineAsync("354 go ahead").ConfigureAwait(false);
                        // Bounded by the client: the content ends with a line holding one dot.
                        while (await reader.ReadLineAsync(_stop.Token).ConfigureAwait(false) is { } content && content != ".")
                        {
                        }
                        Task gate;
                        lock (_lock)
                        {
                            gate = _gate.Task;
                        }
                        await gate.WaitAsync(_stop.Token).ConfigureAwait(false);
                        Interlocked.Increment(ref _messages);
                        await writer.WriteLineAsync("250 2.0.0 accepted").ConfigureAwait(false);
                        break;
                    case "QUIT":
                        await writer.WriteLineAsync("221 2.0.0 bye").ConfigureAwait(false);
                        return;
                    default:
                        await writer.WriteLineAsync("250 2.0.0 ok").ConfigureAwait(false);
                        break;
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // The client went away, or the test ended.
        }
        finally
        {
            lock (_lock)
            {
                _open--;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Release();
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await _accepting.ConfigureAwait(false);
        await Task.WhenAll(_sessions).ConfigureAwait(false);
        _stop.Dispose();
    }
}
