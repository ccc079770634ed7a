using System.Net;
using System.Net.Sockets;
using ManycoreMail.Smtp.Internal;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Smtp.Server;

/// <summary>An ESMTP server: accept loop plus one session per connection.</summary>
public sealed class SmtpServer(SmtpServerOptions options, ISmtpHandler handler, ILogger logger) : IAsyncDisposable
{
    private const int ListenBacklog = 512;
    /// <summary>After the stop deadline, how long sessions get to say "421" and close before their sockets are.</summary>
    private static readonly TimeSpan GoodbyeGrace = TimeSpan.FromSeconds(3);

    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _aborted = new();
    private readonly Lock _sessionsGate = new();
    private readonly Lock _stopGate = new();
    private readonly Dictionary<SmtpSession, Task> _sessions = [];
    private readonly SessionLimiter _limiter = new(options.MaxSessions, options.MaxSessionsPerClient);
    private readonly MemoryBudget _receiving = new(options.MaxReceivingBytes);
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private Task? _stopTask;
    private int _started;

    /// <summary>Sessions currently open.</summary>
    public int SessionCount
    {
        get
        {
            lock (_sessionsGate)
            {
                return _sessions.Count;
            }
        }
    }

    /// <summary>Bytes the bodies being received hold now (at most <see cref="SmtpServerOptions.MaxReceivingBytes"/>).</summary>
    public long ReceivingBytes => _receiving.Used;

    /// <summary>Bind and start accepting. Returns the bound endpoint (useful with port 0).
    /// Binding the IPv6 any-address accepts IPv4 as well (dual mode).</summary>
    public IPEndPoint Start(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(logger);
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("The server was already started.");
        }

        var listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                listener.DualMode = true;
            }

            listener.Bind(endPoint);
            listener.Listen(ListenBacklog);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        _listener = listener;
        var bound = (IPEndPoint)listener.LocalEndPoint!;
        SmtpSessionLog.Listening(logger, bound);
        _acceptLoop = Task.Run(() => AcceptLoopAsync(listener));
        return bound;
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        // Bounded by StopAsync, which cancels the token and closes the listener.
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }

                // Out of descriptors and the like: back off briefly rather than spin.
                SmtpSessionLog.AcceptFailed(logger, e);
                await Task.Delay(TimeSpan.FromMilliseconds(50), CancellationToken.None).ConfigureAwait(false);
                continue;
            }

            StartSession(socket);
        }
    }

    private void StartSession(Socket socket)
    {
        SmtpSession session;
        try
        {
            socket.NoDelay = true;
            var remote = (IPEndPoint)socket.RemoteEndPoint!;
            var local = (IPEndPoint)socket.LocalEndPoint!;
            session = new SmtpSession(new NetworkStream(socket, ownsSocket: true), remote, local, options, handler, logger, _limiter,
                _stopping.Token, _aborted.Token, _receiving);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // The peer went away between accept and setup.
            socket.Dispose();
            return;
        }

        // The session starts on this thread (the socket's, with inline completions) rather than a pool thread: up to
        // its first read that has to wait it only greets, and a hop to the pool was a thread woken per connection.
        // It is registered first so that its own removal, which may come on any thread, always follows the add;
        // StopAsync sees every session's real task, since it reads them only after this loop has ended.
        lock (_sessionsGate)
        {
            _sessions.Add(session, Task.CompletedTask);
        }

        var running = RunSessionAsync(session);
        lock (_sessionsGate)
        {
            if (_sessions.ContainsKey(session))
            {
                _sessions[session] = running;
            }
        }
    }

    private async Task RunSessionAsync(SmtpSession session)
    {
        try
        {
            await session.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            try
            {
                await session.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                lock (_sessionsGate)
                {
                    _sessions.Remove(session);
                }
            }
        }
    }

    /// <summary>Stop accepting, let sessions finish within the token's deadline, then close them.
    /// Idle sessions are told "421 4.3.2" at once; sessions inside a transaction may finish it.</summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_stopGate)
        {
            _stopTask ??= StopCoreAsync(cancellationToken);
            return _stopTask;
        }
    }

    private async Task StopCoreAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        await _acceptLoop.ConfigureAwait(false);

        KeyValuePair<SmtpSession, Task>[] sessions;
        lock (_sessionsGate)
        {
            sessions = [.. _sessions];
        }

        var all = Task.WhenAll(sessions.Select(s => s.Value));
        try
        {
            await all.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Deadline reached: every session still in a transaction says "421 4.3.2" (its message was not
            // acknowledged, so the client keeps it) and closes; a peer that does not even take that is cut off.
            await _aborted.CancelAsync().ConfigureAwait(false);
            try
            {
                await all.WaitAsync(GoodbyeGrace, CancellationToken.None).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                foreach (var (session, _) in sessions)
                {
                    session.Abort();
                }

                await all.ConfigureAwait(false);
            }
        }
    }

    /// <summary>Stops without a grace period: sessions still in a transaction are cut off.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);
        _stopping.Dispose();
        _aborted.Dispose();
    }
}
