using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Threading.Channels;

namespace ManycoreMail.Queue.Redis;

/// <summary>
/// One TCP (or TLS) connection. Any number of callers may send at once: each queues its request and its
/// reply slot in the same critical section, so the order of slots is the order of frames on the wire.
/// One loop writes the queued requests to the socket: small frames are gathered into one staging buffer
/// (everything queued while the previous write was in progress goes out together: batching under load
/// comes by itself), large ones (bodies) are written from the request's own buffer, never copied. Another
/// decodes replies and completes the slots in order. A slot whose caller gave up is still completed,
/// which is what keeps every later reply matched to its request.
/// </summary>
internal sealed class RedisConnection : IAsyncDisposable
{
    private readonly Stream _stream;
    private readonly PipeReader _input;
    // Frames from this size up skip the staging buffer: copying a body once more costs more than a write call.
    private const int DirectWriteSize = 8 * 1024;
    private const int StagingSize = 64 * 1024;

    // Each request in it holds a reference (RespRequest.Retain) that the write loop releases once it is written.
    private readonly Channel<RespRequest> _outgoing = Channel.CreateUnbounded<RespRequest>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false, AllowSynchronousContinuations = false });
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
    /// included, as values). The request holds its buffer until it is written, so it may be disposed at once.</summary>
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
            Queue(request, reply);
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
                Queue(requests[i], reply);
                replies[i] = reply.Task;
            }
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
        _outgoing.Writer.TryComplete();
        // Closing the stream ends both loops even when the peer is silent.
        _stream.Dispose();
        FailPending(reason);
    }

    public async ValueTask DisposeAsync()
    {
        Abort(new ObjectDisposedException(nameof(RedisConnection)));
        await Task.WhenAll(_readLoop, _writeLoop).ConfigureAwait(false);
        await _input.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>Queues the reply slot, then hands the request to the write loop; called under the write lock, with no
    /// fault set. The slot goes first: the write loop may send the frame and the read loop decode its reply before
    /// this method returns, and a reply with no slot waiting would break the connection.</summary>
    private void Queue(RespRequest request, TaskCompletionSource<RespValue> reply)
    {
        // Before the slot: a disposed request throws here and leaves nothing behind.
        request.Retain();
        _pending.Enqueue(reply);
        if (!_outgoing.Writer.TryWrite(request))
        {
            // Only a completed channel refuses, and completion follows the fault that was checked under this lock.
            request.Release();
            throw new InvalidOperationException("The connection's outgoing queue is closed.");
        }
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
        var reader = _outgoing.Reader;
        var staging = ArrayPool<byte>.Shared.Rent(StagingSize);
        var staged = 0;
        RespRequest? current = null;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (reader.TryRead(out current))
                {
                    var frame = current.FrameMemory;
                    if (frame.Length >= DirectWriteSize || frame.Length > staging.Length - staged)
                    {
                        if (staged > 0)
                        {
                            await _stream.WriteAsync(staging.AsMemory(0, staged)).ConfigureAwait(false);
                            staged = 0;
                        }
                    }
                    if (frame.Length >= DirectWriteSize)
                    {
                        await _stream.WriteAsync(frame).ConfigureAwait(false);
                    }
                    else
                    {
                        frame.Span.CopyTo(staging.AsSpan(staged));
                        staged += frame.Length;
                    }
                    current.Release();
                    current = null;
                }
                if (staged > 0)
                {
                    await _stream.WriteAsync(staging.AsMemory(0, staged)).ConfigureAwait(false);
                    staged = 0;
                }
                await _stream.FlushAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            Abort(e);
        }
        finally
        {
            current?.Release();
            // Abort completed the queue before this point is reached, so nothing can be added while it drains.
            while (reader.TryRead(out var unsent))
            {
                unsent.Release();
            }
            ArrayPool<byte>.Shared.Return(staging);
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
