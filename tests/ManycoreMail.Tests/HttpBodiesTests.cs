using ManycoreMail.Hosting;
using Microsoft.AspNetCore.Http;

namespace ManycoreMail.Tests;

public sealed class HttpBodiesTests
{
    [Theory]
    [InlineData(0, true)]
    [InlineData(5_000, true)]
    [InlineData(100_000, true)]
    [InlineData(5_000, false)]
    [InlineData(100_000, false)] // past the first 16 KB buffer: read on into larger ones
    public async Task A_body_within_the_limit_is_read_whole_whether_its_length_is_given_or_not(int size, bool withLength)
    {
        var bytes = Bytes(size, seed: size);
        using var body = await HttpBodies.ReadPooledAsync(Request(bytes, withLength), 200_000, CancellationToken.None);

        Assert.NotNull(body);
        Assert.Equal(bytes, body.Memory.ToArray());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_body_of_exactly_the_limit_is_taken_and_one_byte_more_is_not(bool withLength)
    {
        using var exact = await HttpBodies.ReadPooledAsync(Request(Bytes(50_000, 1), withLength), 50_000, CancellationToken.None);
        using var over = await HttpBodies.ReadPooledAsync(Request(Bytes(50_001, 2), withLength), 50_000, CancellationToken.None);

        Assert.Equal(50_000, exact?.Memory.Length);
        Assert.Null(over);
    }

    [Fact]
    public async Task A_body_longer_than_its_content_length_said_is_over_the_limit_when_the_extra_bytes_are()
    {
        var request = Request(Bytes(3_000, 3), withLength: false);
        request.ContentLength = 1_000;

        using var body = await HttpBodies.ReadPooledAsync(request, 2_000, CancellationToken.None);

        Assert.Null(body);
    }

    [Fact]
    public async Task Bodies_read_after_one_was_returned_to_the_pool_are_their_own_bytes()
    {
        // The buffers come from the shared pool: a second body may get the first one's array, and must not see its bytes
        // (nor change what a caller copied out of the first before disposing it).
        var first = Bytes(20_000, 4);
        var second = Bytes(20_000, 5);
        byte[] copied;
        using (var body = await HttpBodies.ReadPooledAsync(Request(first, withLength: true), 100_000, CancellationToken.None))
        {
            copied = body!.Memory.ToArray();
        }
        using var next = await HttpBodies.ReadPooledAsync(Request(second, withLength: true), 100_000, CancellationToken.None);

        Assert.Equal(first, copied);
        Assert.Equal(second, next!.Memory.ToArray());
    }

    [Fact]
    public void Dispose_twice_returns_the_buffer_once()
    {
        var body = new PooledBody(1024);
        body.Dispose();
        body.Dispose();
        Assert.True(body.Memory.IsEmpty);
    }

    private static HttpRequest Request(byte[] bytes, bool withLength)
    {
        var context = new DefaultHttpContext();
        // A stream that hands out at most 1,000 bytes per read, as a socket does.
        context.Request.Body = new TrickleStream(bytes);
        context.Request.ContentLength = withLength ? bytes.Length : null;
        return context.Request;
    }

    private static byte[] Bytes(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private sealed class TrickleStream(byte[] bytes) : MemoryStream(bytes, writable: false)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, 1_000)], cancellationToken);
    }
}
