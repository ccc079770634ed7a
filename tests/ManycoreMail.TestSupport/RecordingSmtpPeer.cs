using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ManycoreMail.TestSupport;

/// <summary>
/// A minimal SMTP server on a loopback address that accepts everything and records every command line as sent
/// (parameters included, which Postfix's smtp-sink does not dump). Its EHLO reply lists exactly the keywords it is
/// given, so a test decides what the client may assume (DSN, SMTPUTF8, ...). It counts the connections open at once,
/// and can hold its answer to each message's end of DATA until the test lets go (<see cref="Hold"/>): a client's
/// connections then stay open and busy for as long as the test needs to look at them.
/// </summary>
public sealed class RecordingSmtpPeer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly IReadOnlyList<string> _keywords;
    private readonly Task _accepting;
    private readonly ConcurrentBag<Task> _sessions = [];
    private readonly Lock _lock = new();
    private TaskCompletionSource _gate = Released();
    private int _open;
    private int _maxOpen;

    private RecordingSmtpPeer(IPEndPoint endPoint, IReadOnlyList<string> keywords)
    {
        _keywords = keywords;
        _listener = new TcpListener(endPoint);
        _listener.Start();
        EndPoint = (IPEndPoint)_listener.LocalEndpoint;
        _accepting = AcceptAsync();
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Every command line received, in order per connection (DATA content excluded).</summary>
    public ConcurrentQueue<string> Commands { get; } = new();

    /// <summary>How many messages were accepted (250 after the end of DATA).</summary>
    public int MessageCount => Volatile.Read(ref _messages);

    private int _messages;

    /// <summary>Connections open now.</summary>
    public int Open { get { lock (_lock) return _open; } }

    /// <summary>The most connections ever open at once.</summary>
    public int MaxOpen { get { lock (_lock) return _maxOpen; } }

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

    public static RecordingSmtpPeer Start(IPAddress address, int port, params string[] ehloKeywords) =>
        new(new IPEndPoint(address, port), ehloKeywords);

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
        using var _ = socket;
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        using var reader = new StreamReader(stream, new UTF8Encoding(false), leaveOpen: true);
        await using var writer = new StreamWriter(stream, new UTF8Encoding(false), leaveOpen: true) { NewLine = "\r\n", AutoFlush = true };
        try
        {
            await writer.WriteLineAsync("220 recorder.test ESMTP").ConfigureAwait(false);
            // Bounded by the client: each pass reads one line, and the loop ends when it closes or quits.
            while (await reader.ReadLineAsync(_stop.Token).ConfigureAwait(false) is { } line)
            {
                Commands.Enqueue(line);
                var verb = (line.Length >= 4 ? line[..4] : line).ToUpperInvariant();
                switch (verb)
                {
                    case "EHLO":
                        var lines = new List<string> { "recorder.test" };
                        lines.AddRange(_keywords);
                        for (var i = 0; i < lines.Count; i++)
                        {
                            await writer.WriteLineAsync((i == lines.Count - 1 ? "250 " : "250-") + lines[i]).ConfigureAwait(false);
                        }

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
                        await writer.WriteLineAsync("250 2.0.0 recorded").ConfigureAwait(false);
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
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
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
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await _accepting.ConfigureAwait(false);
        await Task.WhenAll(_sessions).ConfigureAwait(false);
        _stop.Dispose();
    }
}
