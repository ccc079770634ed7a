using System.Collections.Concurrent;
using System.Diagnostics;

namespace ManycoreMail.Queue.Redis;

/// <summary>
/// A Redis client for many concurrent callers: ordinary commands are pipelined on a few shared connections
/// (each command goes to the one with the fewest replies outstanding), each blocking command (BLMOVE and the
/// like) borrows a connection of its own. A broken connection is replaced on the next command that would use
/// it; after a failed connect, commands fail at once until the back-off delay has passed, so callers can
/// refuse work quickly instead of queueing behind a dead server.
/// </summary>
/// <remarks>
/// Why more than one shared connection: Redis sends at most 64 KB of replies to one client per turn of its
/// event loop and reads one large argument per client per turn, and with <c>appendfsync always</c> every turn
/// that wrote ends with a disk sync. On one connection a lease of a megabyte of messages took sixteen syncs to
/// leave the server, and every reply behind it waited. Each connection keeps its own order; a caller's next
/// command is sent after its previous reply, so nothing depends on order across connections.
/// </remarks>
public sealed class RedisClient : IAsyncDisposable
{
    private readonly RedisClientOptions _options;
    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private readonly ConcurrentQueue<RedisConnection> _idleBlocking = new();
    private readonly CancellationTokenSource _disposing = new();
    private readonly RedisConnection?[] _shared;
    private Exception? _lastConnectError;
    private long _retryAfterTimestamp;
    private TimeSpan _backoff;
    private int _disposed;

    public RedisClient(RedisClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _backoff = options.MinReconnectDelay;
        _shared = new RedisConnection?[options.SharedConnections];
    }

    public RedisClientOptions Options => _options;

    /// <summary>True while the shared connections are up (they are opened by the first commands).</summary>
    public bool IsConnected
    {
        get
        {
            for (var i = 0; i < _shared.Length; i++)
            {
                if (Volatile.Read(ref _shared[i]) is not { IsHealthy: true })
                {
                    return false;
                }
            }
            return true;
        }
    }

    /// <summary>Opens the shared connections now rather than on the first commands.</summary>
    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        for (var i = 0; i < _shared.Length; i++)
        {
            await ReconnectSharedAsync(i, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Sends <paramref name="request"/> on the shared connection and returns its reply.
    /// Cancellation stops the wait, never the command: once written, its reply is still read and dropped.</summary>
    /// <exception cref="RedisServerException">The server answered with an error.</exception>
    /// <exception cref="RedisConnectionException">Redis is unreachable or the connection broke.</exception>
    public async Task<RespValue> ExecuteAsync(RespRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var reply = await SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (reply.IsError && request.ScriptToLoad is not null && reply.Span.StartsWith("NOSCRIPT"u8))
        {
            // The server lost its script cache (a restart): send the text once, then EVALSHA works again.
            using var eval = request.ToEval();
            reply = await SendAsync(eval, cancellationToken).ConfigureAwait(false);
        }
        return reply.IsError ? throw new RedisServerException(reply.ToString() ?? "error") : reply;
    }

    /// <summary>Convenience form for rare commands; hot paths build a <see cref="RespRequest"/>.</summary>
    public async Task<RespValue> ExecuteAsync(CancellationToken cancellationToken, params string[] arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        using var request = RespRequest.Create(arguments.Length);
        foreach (var argument in arguments)
        {
            request.Add(argument);
        }
        return await ExecuteAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends requests back to back on the shared connection, nothing of other callers' between them
    /// (MULTI ... EXEC). Returns every reply, error replies included as values.</summary>
    public async Task<RespValue[]> ExecuteAdjacentAsync(IReadOnlyList<RespRequest> requests, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requests);
        cancellationToken.ThrowIfCancellationRequested();
        var connection = await GetSharedAsync(cancellationToken).ConfigureAwait(false);
        var array = requests as RespRequest[] ?? [.. requests];
        var replies = connection.SendAdjacent(array);
        var values = new RespValue[replies.Length];
        for (var i = 0; i < replies.Length; i++)
        {
            values[i] = await AwaitReplyAsync(connection, replies[i], _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        }
        return values;
    }

    /// <summary>Runs a blocking command (BLMOVE, BLPOP...) on a connection of its own. <paramref name="blockFor"/> is
    /// the server-side timeout inside the command; the reply is awaited that long plus the command timeout.
    /// When the caller cancels, the connection goes back to the pool once the server answers.</summary>
    public async Task<RespValue> ExecuteBlockingAsync(RespRequest request, TimeSpan blockFor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        var connection = await RentBlockingAsync(cancellationToken).ConfigureAwait(false);
        var reply = connection.Send(request);
        _ = reply.ContinueWith(
            static (_, state) => ((RedisClient)((object[])state!)[0]).ReturnBlocking((RedisConnection)((object[])state!)[1]),
            new object[] { this, connection },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        var value = await AwaitReplyAsync(connection, reply, blockFor + _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        return value.IsError ? throw new RedisServerException(value.ToString() ?? "error") : value;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _disposing.CancelAsync().ConfigureAwait(false);
        await _connectGate.WaitAsync().ConfigureAwait(false);
        try
        {
            foreach (var shared in _shared)
            {
                if (shared is not null)
                {
                    await shared.DisposeAsync().ConfigureAwait(false);
                }
            }
            while (_idleBlocking.TryDequeue(out var idle))
            {
                await idle.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _connectGate.Release();
        }
        _disposing.Dispose();
    }

    private async Task<RespValue> SendAsync(RespRequest request, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var connection = await GetSharedAsync(cancellationToken).ConfigureAwait(false);
        return await AwaitReplyAsync(connection, connection.Send(request), _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<RespValue> AwaitReplyAsync(RedisConnection connection, Task<RespValue> reply, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            return await reply.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            // A silent server cannot be told apart from a dead one; dropping the connection fails every
            // other command in flight at once rather than one timeout at a time.
            var error = new RedisConnectionException($"Redis did not answer within {timeout.TotalSeconds:0.###} s.", e);
            connection.Abort(error);
            throw error;
        }
    }

    /// <summary>The healthy shared connection with the fewest replies outstanding; a missing or broken one is
    /// (re)opened first, so an outage shows on the next command.</summary>
    private ValueTask<RedisConnection> GetSharedAsync(CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        RedisConnection? best = null;
        for (var i = 0; i < _shared.Length; i++)
        {
            var shared = Volatile.Read(ref _shared[i]);
            if (shared is not { IsHealthy: true })
            {
                return new ValueTask<RedisConnection>(ReconnectSharedAsync(i, cancellationToken));
            }
            if (best is null || shared.Pending < best.Pending)
            {
                best = shared;
            }
        }
        return ValueTask.FromResult(best!);
    }

    private async Task<RedisConnection> ReconnectSharedAsync(int slot, CancellationToken cancellationToken)
    {
        await _connectGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfDisposed();
            if (_shared[slot] is { IsHealthy: true } current)
            {
                return current;
            }
            var broken = _shared[slot];
            _shared[slot] = null;
            if (broken is not null)
            {
                await broken.DisposeAsync().ConfigureAwait(false);
            }
            var connection = await OpenGatedAsync(cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _shared[slot], connection);
            return connection;
        }
        finally
        {
            _connectGate.Release();
        }
    }

    /// <summary>Opens a connection unless the back-off says to wait; the caller holds the gate or does not need it.</summary>
    private async Task<RedisConnection> OpenGatedAsync(CancellationToken cancellationToken)
    {
        var retryAfter = Interlocked.Read(ref _retryAfterTimestamp);
        if (retryAfter != 0 && Stopwatch.GetTimestamp() < retryAfter)
        {
            throw new RedisConnectionException(
                $"Redis at {_options.Host}:{_options.Port} is unreachable; retrying in {Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), retryAfter).TotalMilliseconds:0} ms.",
                _lastConnectError);
        }
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
            var connection = await RedisConnection.OpenAsync(_options, linked.Token).ConfigureAwait(false);
            lock (_idleBlocking)
            {
                _backoff = _options.MinReconnectDelay;
                Interlocked.Exchange(ref _retryAfterTimestamp, 0);
            }
            return connection;
        }
        catch (RedisConnectionException e)
        {
            lock (_idleBlocking)
            {
                _lastConnectError = e;
                var delay = _backoff;
                _backoff = TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, _options.MaxReconnectDelay.Ticks));
                Interlocked.Exchange(ref _retryAfterTimestamp, Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency));
            }
            throw;
        }
    }

    private async Task<RedisConnection> RentBlockingAsync(CancellationToken cancellationToken)
    {
        // Bounded by the pool size: unhealthy idle connections are dropped on the way.
        while (_idleBlocking.TryDequeue(out var idle))
        {
            if (idle.IsHealthy)
            {
                return idle;
            }
            await idle.DisposeAsync().ConfigureAwait(false);
        }
        return await OpenGatedAsync(cancellationToken).ConfigureAwait(false);
    }

    private void ReturnBlocking(RedisConnection connection)
    {
        if (connection.IsHealthy && Volatile.Read(ref _disposed) == 0 && _idleBlocking.Count < _options.MaxIdleBlockingConnections)
        {
            _idleBlocking.Enqueue(connection);
            // Disposal may have drained the pool between the check and the enqueue.
            if (Volatile.Read(ref _disposed) == 0 || !_idleBlocking.TryDequeue(out var late))
            {
                return;
            }
            connection = late;
        }
        _ = connection.DisposeAsync().AsTask();
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
