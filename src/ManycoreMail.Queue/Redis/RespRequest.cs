using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace ManycoreMail.Queue.Redis;

/// <summary>
/// One command encoded as a RESP array of bulk strings, straight into a buffer rented from the shared
/// pool. The argument count is fixed up front (it is the frame's first line), and sending a request
/// with fewer or more arguments than announced fails instead of corrupting the connection.
/// A request may be sent more than once. The connection sends the request's own buffer rather than a copy
/// (a 100 KB body is copied once, into this buffer, on its way to the socket), so each send holds a
/// reference: the buffer goes back to the pool when the owner disposed the request and every send has
/// reached the socket, whichever is last. The owner may therefore dispose as soon as it stops waiting.
/// </summary>
public sealed class RespRequest : IDisposable
{
    private const int MaxNumberLength = 20;

    private byte[] _buffer;
    private int _length;
    private int _remaining;
    private int _scriptArgumentsStart = -1;
    private RedisScript? _script;
    // The owner's reference plus one per send not yet written; the buffer is returned when it reaches zero.
    private int _references = 1;
    private int _disposed;

    private RespRequest(int arguments, int sizeHint)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(arguments, 1);
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(sizeHint, 64));
        _remaining = arguments;
        WriteHeader('*', arguments);
    }

    /// <summary>Starts a command of <paramref name="arguments"/> arguments, the command name included.</summary>
    public static RespRequest Create(int arguments, int sizeHint = 256) => new(arguments, sizeHint);

    /// <summary>Starts <c>EVALSHA sha numkeys ...</c> for <paramref name="script"/>; the caller adds the
    /// keys and arguments (<paramref name="keysAndArguments"/> of them). When the server has lost the script
    /// the client resends the same arguments as <c>EVAL</c>.</summary>
    public static RespRequest Script(RedisScript script, int keyCount, int keysAndArguments, int sizeHint = 256)
    {
        ArgumentNullException.ThrowIfNull(script);
        var request = new RespRequest(3 + keysAndArguments, sizeHint);
        request.Add("EVALSHA"u8).Add(script.Sha1Hex.Span);
        request._scriptArgumentsStart = request._length;
        request._script = script;
        request.Add(keyCount);
        return request;
    }

    /// <summary>Starts <c>EVAL text numkeys ...</c> for <paramref name="script"/>. For use inside MULTI, where a server
    /// that lost the script would answer NOSCRIPT only at EXEC, after the commands queued beside it had run.</summary>
    public static RespRequest Eval(RedisScript script, int keyCount, int keysAndArguments, int sizeHint = 256)
    {
        ArgumentNullException.ThrowIfNull(script);
        var request = new RespRequest(3 + keysAndArguments, sizeHint + script.Text.Length);
        request.Add("EVAL"u8).Add(script.Text).Add(keyCount);
        return request;
    }

    /// <summary>The encoded frame; complete only when every announced argument was added.</summary>
    public ReadOnlySpan<byte> Frame => _buffer.AsSpan(0, _length);

    /// <summary>The frame as memory, for the connection's write loop; valid while it holds a reference.</summary>
    internal ReadOnlyMemory<byte> FrameMemory => _buffer.AsMemory(0, _length);

    public bool IsComplete => _remaining == 0;

    internal RedisScript? ScriptToLoad => _script;

    public RespRequest Add(ReadOnlySpan<byte> argument)
    {
        Reserve(argument.Length);
        argument.CopyTo(_buffer.AsSpan(_length));
        _length += argument.Length;
        WriteCrlf();
        return this;
    }

    public RespRequest Add(string argument)
    {
        ArgumentNullException.ThrowIfNull(argument);
        var length = Encoding.UTF8.GetByteCount(argument);
        Reserve(length);
        _length += Encoding.UTF8.GetBytes(argument, _buffer.AsSpan(_length));
        WriteCrlf();
        return this;
    }

    public RespRequest Add(long argument)
    {
        Span<byte> digits = stackalloc byte[MaxNumberLength];
        Utf8Formatter.TryFormat(argument, digits, out var written);
        return Add(digits[..written]);
    }

    /// <summary>Adds one argument: <paramref name="prefix"/> then <paramref name="number"/>'s decimal digits (a key such as
    /// "mm:q:QUEUE:body:17"), without building it as a string first.</summary>
    public RespRequest Add(ReadOnlySpan<byte> prefix, long number)
    {
        Span<byte> digits = stackalloc byte[MaxNumberLength];
        Utf8Formatter.TryFormat(number, digits, out var written);
        return Add(prefix, digits[..written]);
    }

    /// <summary>Adds one argument made of two parts, without joining them first.</summary>
    public RespRequest Add(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        Reserve(first.Length + second.Length);
        first.CopyTo(_buffer.AsSpan(_length));
        _length += first.Length;
        second.CopyTo(_buffer.AsSpan(_length));
        _length += second.Length;
        WriteCrlf();
        return this;
    }

    /// <summary>The same command as <c>EVAL script ...</c>, for a server that answered NOSCRIPT.</summary>
    internal RespRequest ToEval()
    {
        if (_script is null || _scriptArgumentsStart < 0 || !IsComplete)
        {
            throw new InvalidOperationException("Only a complete script request can be turned into EVAL.");
        }
        var tail = Frame[_scriptArgumentsStart..];
        var arguments = ParseHeaderCount();
        var eval = new RespRequest(arguments, tail.Length + _script.Text.Length + 64);
        eval.Add("EVAL"u8).Add(_script.Text);
        eval.Reserve(tail.Length, bulk: false);
        tail.CopyTo(eval._buffer.AsSpan(eval._length));
        eval._length += tail.Length;
        eval._remaining = 0;
        return eval;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Release();
        }
    }

    /// <summary>Keeps the buffer for a send until the matching <see cref="Release"/>. A request whose owner
    /// disposed it cannot be sent: its buffer may already belong to someone else.</summary>
    internal void Retain()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        Interlocked.Increment(ref _references);
    }

    internal void Release()
    {
        if (Interlocked.Decrement(ref _references) != 0)
        {
            return;
        }
        var buffer = _buffer;
        _buffer = [];
        _length = 0;
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private int ParseHeaderCount()
    {
        var header = _buffer.AsSpan(1, _length - 1);
        Utf8Parser.TryParse(header, out int count, out _);
        return count;
    }

    /// <summary>Makes room for one more bulk string of <paramref name="payload"/> bytes and writes its header.</summary>
    private void Reserve(int payload, bool bulk = true)
    {
        if (bulk)
        {
            if (_remaining == 0)
            {
                throw new InvalidOperationException("More arguments than the request announced.");
            }
            _remaining--;
        }
        var needed = _length + payload + MaxNumberLength + 8;
        if (needed > _buffer.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, _buffer.Length * 2));
            _buffer.AsSpan(0, _length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }
        if (bulk)
        {
            WriteHeader('$', payload);
        }
    }

    private void WriteHeader(char marker, long count)
    {
        _buffer[_length++] = (byte)marker;
        Utf8Formatter.TryFormat(count, _buffer.AsSpan(_length), out var written);
        _length += written;
        WriteCrlf();
    }

    private void WriteCrlf()
    {
        _buffer[_length++] = (byte)'\r';
        _buffer[_length++] = (byte)'\n';
    }
}
