using System.Buffers;
using Microsoft.AspNetCore.Http;

namespace ManycoreMail.Hosting;

/// <summary>Reading a raw message from an HTTP request, for the endpoints that take one.</summary>
internal static class HttpBodies
{
    /// <summary>The whole body, or null when it is longer than <paramref name="limit"/> (the rest is not read).</summary>
    public static async Task<byte[]?> ReadLimitedAsync(HttpRequest request, long limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            return null;
        }
        using var buffer = new MemoryStream(request.ContentLength is { } length ? (int)length : 16 * 1024);
        var chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int read;
            // Bounded by the limit: every turn adds bytes or ends.
            while ((read = await request.Body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > limit)
                {
                    return null;
                }
                buffer.Write(chunk, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return buffer.ToArray();
    }

    /// <summary>The whole body in a pooled buffer, or null when it is longer than <paramref name="limit"/> (the rest is
    /// not read). The caller disposes it once nothing reads it any more (a queue store keeps no caller's memory).</summary>
    public static async Task<PooledBody?> ReadPooledAsync(HttpRequest request, long limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            return null;
        }
        var body = new PooledBody(request.ContentLength is { } length ? (int)length : 16 * 1024);
        try
        {
            // Bounded by the limit: every turn adds bytes or ends.
            while (true)
            {
                if (body.Free.Length == 0)
                {
                    // Room for one byte past the limit, so that a body longer than its Content-Length said is seen.
                    body.Grow((int)Math.Min(Math.Min(limit + 1, Array.MaxLength), Math.Max(2L * body.Memory.Length, 4096)));
                }
                var read = await request.Body.ReadAsync(body.Free, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return body;
                }
                body.Advance(read);
                if (body.Memory.Length > limit)
                {
                    body.Dispose();
                    return null;
                }
            }
        }
        catch
        {
            body.Dispose();
            throw;
        }
    }
}

/// <summary>A request body read into a buffer from <see cref="ArrayPool{T}.Shared"/>, returned on dispose.</summary>
internal sealed class PooledBody : IDisposable
{
    private byte[] _buffer;
    private int _length;

    public PooledBody(int capacity) => _buffer = ArrayPool<byte>.Shared.Rent(capacity);

    /// <summary>The bytes read so far; not to be used after <see cref="Dispose"/>.</summary>
    public ReadOnlyMemory<byte> Memory => _buffer.AsMemory(0, _length);

    /// <summary>Where the next bytes go.</summary>
    public Memory<byte> Free => _buffer.AsMemory(_length);

    public void Advance(int count) => _length += count;

    /// <summary>Moves the bytes into a buffer of at least <paramref name="capacity"/> bytes.</summary>
    public void Grow(int capacity)
    {
        var larger = ArrayPool<byte>.Shared.Rent(capacity);
        _buffer.AsSpan(0, _length).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = larger;
    }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, []);
        _length = 0;
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
