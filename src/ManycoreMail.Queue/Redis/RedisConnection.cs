using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;

namespace ManycoreMail.Queue.Redis;

/// <summary>
/// One TCP (or TLS) connection. Any number of callers may send at once: each writes its frame into one
/// outgoing pipe and queues its reply slot in the same critical section, so the order of slots is the
/// order of frames on the wire. One loop copies the pipe to the socket (everything written while the
/// previous write was in progress goes out together: batching under load comes by itself), another
/// decodes replies and completes the slots in order. A slot whose caller gave up is still completed,
/// which is what keeps every later reply matched to its request.
/// </summary>
internal sealed class RedisConnection : IAsyncDisposable
{
    private readonly Stream _stream;
    private readonly PipeReader _input;
    private readonly Pipe _outgoing = new(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
    private readonly Lock _writeLock = new();
    private readonly ConcurrentQueue<TaskCompletionSource<RespValue>> _pending = new();
    // Keeps what it decoded of an unfinished reply, so the pipe never hands the same bytes over twice.
    private readonly RespDecoder _decoder = new();
    private readonly string _endpoint;
    private Exception? _fault;
    private Task _readLoop = Task.CompletedTask;
    private Task _writeLoop = Task.CompletedTask;

    private RedisConnection(Stream stream, string endpoint)
    {
        _stream = stream;
        _endpoint = endpoint;
        _input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 4096, leaveOpen: true));
    }

    /// <summary>False once the connection broke or was closed; it never recovers.</summary>
    public bool IsHealthy => Volatile.Read(ref _fault) is null;

    /// <summary>Replies still owed by the server.</summary>
    public int Pending => _pending.Count;

    public static async Task<RedisConnection> OpenAsync(RedisClientOptions options, CancellationToken cancellationToken)
    {
        var endpoint = $"{options.Host}:{options.Port}";
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(options.ConnectTimeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream? stream = null;
        RedisConnection? connection = null;
        try
        {
            await socket.ConnectAsync(options.Host, options.Port, deadline.Token).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (options.UseTls)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false, options.CertificateValidation);
                stream = tls;
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = options.TlsServerName ?? options.Host,
                }, deadline.Token).ConfigureAwait(false);
            }

            connection = new RedisConnection(stream, endpoint);
            connection.Start();
            await connection.HandshakeAsync(options).WaitAsync(deadline.Token).ConfigureAwait(false);
            return connection;
        }
        catch (Exception e)
        {
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            else if (stream is not null)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                socket.Dispose();
            }
            if (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
            throw e is RedisConnectionException ? e : new RedisConnectionException($"Cannot connect to Redis at {endpoint}: {e.Message}", e);
        }
    }

    /// <summary>Queues <paramref name="request"/> for the wire; the task completes with its reply (error replies
    /// included, as values). The frame is copied, so the request may be disposed at once.</summary>
    public Task<RespValue> Send(RespRequest request)
    {
        if (!request.IsComplete)
        {
            throw new InvalidOperationException("The request has fewer arguments than it announced.");
        }
        var reply = new TaskCompletionSource<RespValue>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_writeLock)
        {
            if (_fault is { } fault)
            {
                return Task.FromException<RespValue>(Broken(fault));
            }
            _outgoing.Writer.Write(request.Frame);
            _pending.Enqueue(reply);
            // With no pause threshold an in-memory flush completes at once; it only publishes the bytes to the
            // write loop, after the slot is queued, so a reply can never arrive before its slot.
            _ = _outgoing.Writer.FlushAsync();
        }
        return reply.Task;
    }

    /// <summary>Sends several requests back to back with nothing of anybody else's between them
    /// (MULTI ... EXEC must not take in other callers' commands).</summary>
    public Task<RespValue>[] SendAdjacent(ReadOnlySpan<RespRequest> requests)
    {
        foreach (var request in requests)
        {
            if (!request.IsComplete)
            {
                throw new InvalidOperationException("A request has fewer arguments than it announced.");
            }
        }
        var replies = new Task<RespValue>[requests.Length];
        lock (_writeLock)
        {
            if (_fault is { } fault)
            {
                Array.Fill(replies, Task.FromException<RespValue>(Broken(fault)));
                return replies;
            }
            for (var i = 0; i < requests.Length; i++)
            {
                var reply = new TaskCompletionSource<RespValue>(TaskCreationOptions.RunContinuationsAsynchronously);
                _outgoing.Writer.Write(requests[i].Frame);
                _pending.Enqueue(reply);
                replies[i] = reply.Task;
            }
            _ = _outgoing.Writer.FlushAsync();
        }
        return replies;
    }

    /// <summary>Drops the connection: every reply still owed fails with <see cref="RedisConnectionException"/>.</summary>
    public void Abort(Exception reason)
    {
        lock (_writeLock)
        {
            if (_fault is not null)
            {
                return;
            }
            Volatile.Write(ref _fault, reason);
        }
        _outgoing.Writer.Complete();
        // Closing the stream ends both loops even when the peer is silent.
        _stream.Dispose();
        FailPending(reason);
    }

    public async ValueTask DisposeAsync()
    {
        Abort(new ObjectDisposedException(nameof(RedisConnection)));
        await Task.WhenAll(_readLoop, _writeLoop).ConfigureAwait(false);
        await _input.CompleteAsync().ConfigureAwait(false);
        await _outgoing.Reader.CompleteAsync().ConfigureAwait(false);
    }

    private void Start()
    {
        _readLoop = Task.Run(ReadLoopAsync);
        _writeLoop = Task.Run(WriteLoopAsync);
    }

    private async Task HandshakeAsync(RedisClientOptions options)
    {
        var requests = new List<RespRequest>(3);
        try
        {
            if (options.Resp3)
            {
                var arguments = 2 + (options.Password is null ? 0 : 3) + (options.ClientName is null ? 0 : 2);
                var hello = RespRequest.Create(arguments).Add("HELLO"u8).Add("3"u8);
                if (options.Password is not null)
                {
                    hello.Add("AUTH"u8).Add(options.Username ?? "default").Add(options.Password);
                }
                if (options.ClientName is not null)
                {
                    hello.Add("SETNAME"u8).Add(options.ClientName);
                }
                requests.Add(hello);
            }
            else
            {
                if (options.Password is not null)
                {
                    requests.Add(options.Username is null
                        ? RespRequest.Create(2).Add("AUTH"u8).Add(options.Password)
                        : RespRequest.Create(3).Add("AUTH"u8).Add(options.Username).Add(options.Password));
                }
                if (options.ClientName is not null)
                {
                    requests.Add(RespRequest.Create(3).Add("CLIENT"u8).Add("SETNAME"u8).Add(options.ClientName));
                }
            }
            if (options.Database != 0)
            {
                requests.Add(RespRequest.Create(2).Add("SELECT"u8).Add(options.Database));
            }
            if (requests.Count == 0)
            {
                requests.Add(RespRequest.Create(1).Add("PING"u8));
            }

            var replies = SendAdjacent(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(requests));
            foreach (var reply in replies)
            {
                var value = await reply.ConfigureAwait(false);
                if (value.IsError)
                {
                    throw new RedisConnectionException($"Redis at {_endpoint} refused the connection setup: {value}");
                }
            }
        }
        finally
        {
            foreach (var request in requests)
            {
                request.Dispose();
            }
        }
    }

    private async Task ReadLoopAsync()
    {
        Exception reason;
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                // Everything is consumed but an unfinished header line; the reader waits for bytes beyond the end.
                var consumed = Decode(buffer);
                _input.AdvanceTo(consumed, buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    reason = new RedisConnectionException($"Redis at {_endpoint} closed the connection.");
                    break;
                }
            }
        }
        catch (Exception e)
        {
            reason = e;
        }
        Abort(reason);
    }

    private SequencePosition Decode(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        while (_decoder.TryDecode(ref reader, out var value))
        {
            // Out-of-band messages (RESP3 push) answer no request.
            if (value.Type == RespType.Push)
            {
                continue;
            }
            if (!_pending.TryDequeue(out var slot))
            {
                throw new RespProtocolException("Redis sent a reply nobody asked for.");
            }
            slot.TrySetResult(value);
        }
        return reader.Position;
    }

    private async Task WriteLoopAsync()
    {
        try
        {
            while (true)
            {
                var result = await _outgoing.Reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    await _stream.WriteAsync(segment).ConfigureAwait(false);
                }
                if (!buffer.IsEmpty)
                {
                    await _stream.FlushAsync().ConfigureAwait(false);
                }
                _outgoing.Reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (Exception e)
        {
            Abort(e);
        }
    }

    private void FailPending(Exception reason)
    {
        var error = Broken(reason);
        // Bounded: nobody can queue a slot once the fault is set.
        while (_pending.TryDequeue(out var slot))
        {
            slot.TrySetException(error);
        }
    }

    private Exception Broken(Exception reason) => reason as RedisConnectionException
        ?? new RedisConnectionException($"The connection to Redis at {_endpoint} is broken: {reason.Message}", reason);
}
