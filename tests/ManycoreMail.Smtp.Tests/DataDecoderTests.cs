using System.Buffers;
using System.Text;
using ManycoreMail.Smtp.Internal;

namespace ManycoreMail.Smtp.Tests;

public sealed class DataDecoderTests
{
    [Theory]
    [InlineData("a\r\n.\r\n", "a\r\n", 0)]
    [InlineData(".\r\n", "", 0)]
    [InlineData("..\r\n.\r\n", ".\r\n", 0)]
    [InlineData("a\r\n..b\r\n.\r\nTAIL", "a\r\n.b\r\n", 4)]
    [InlineData("\r\n.\r\n", "\r\n", 0)]
    public void Decodes_in_every_split(string wire, string expected, int leftOver)
    {
        var bytes = Encoding.ASCII.GetBytes(wire);
        // Feed in every pair of chunk sizes so the state machine is tested at every boundary.
        for (var chunk = 1; chunk <= bytes.Length; chunk++)
        {
            using var decoder = new SmtpDataDecoder();
            decoder.Begin(1000, 1000);
            var offset = 0;
            var ended = false;
            while (offset < bytes.Length && !ended)
            {
                var part = bytes.AsSpan(offset, Math.Min(chunk, bytes.Length - offset));
                ended = decoder.Decode(part, out var consumed);
                offset += consumed;
            }

            Assert.True(ended);
            Assert.Equal(leftOver, bytes.Length - offset);
            Assert.False(decoder.SawBareLineBreak);
            Assert.Equal(expected, Encoding.ASCII.GetString(decoder.Message.ToArray()));
        }
    }

    [Fact]
    public void Large_bodies_span_several_pooled_arrays_byte_exact()
    {
        var random = new Random(7);
        var body = new StringBuilder();
        for (var i = 0; i < 5000; i++)
        {
            body.Append(random.Next(3) == 0 ? "." : "").Append(new string((char)('a' + random.Next(26)), random.Next(0, 80))).Append("\r\n");
        }

        var expected = body.ToString();
        var wire = expected.Replace("\r\n.", "\r\n..", StringComparison.Ordinal);
        if (wire.StartsWith('.'))
        {
            wire = "." + wire;
        }

        using var decoder = new SmtpDataDecoder();
        decoder.Begin(10_000_000, 1000);
        Assert.True(decoder.Decode(Encoding.ASCII.GetBytes(wire + ".\r\n"), out _));
        Assert.Equal(expected, Encoding.ASCII.GetString(decoder.Message.ToArray()));
        Assert.True(decoder.Message.Length > 64 * 1024);
    }
}
