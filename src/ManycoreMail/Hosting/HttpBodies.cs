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
}
