using System.Text;

namespace ManycoreMail.Mime.Tests;

public sealed class TransferEncodingsTests
{
    [Fact]
    public void Quoted_printable_round_trips_arbitrary_bytes()
    {
        var random = new Random(3);
        for (var round = 0; round < 200; round++)
        {
            var data = new byte[random.Next(0, 400)];
            random.NextBytes(data);
            // Line breaks in the data are hard breaks and come back as CRLF, so use only CRLF ones.
            var text = Encoding.Latin1.GetString(data).Replace("\r", "", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal);
            var bytes = Encoding.Latin1.GetBytes(text);
            var encoded = TransferEncodings.EncodeQuotedPrintable(bytes);
            Assert.All(Encoding.ASCII.GetString(encoded).Split("\r\n"), line => Assert.True(line.Length <= 76, line));
            Assert.DoesNotContain(encoded, b => b > 126);
            Assert.Equal(bytes, TransferEncodings.DecodeQuotedPrintable(encoded));
        }
    }

    [Theory]
    [InlineData("a=3Db", "a=b")]
    [InlineData("soft=\r\nbreak", "softbreak")]
    [InlineData("soft=  \r\nbreak", "softbreak")]
    [InlineData("trailing   \r\nline", "trailing\r\nline")]
    [InlineData("bad=ZZ", "bad=ZZ")]
    [InlineData("lf\nend=", "lf\r\nend")]
    public void Quoted_printable_decoding(string encoded, string expected)
    {
        Assert.Equal(expected, Encoding.ASCII.GetString(TransferEncodings.DecodeQuotedPrintable(Encoding.ASCII.GetBytes(encoded))));
    }

    [Fact]
    public void Base64_lines_are_76_characters_and_decode_back()
    {
        var data = Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray();
        var encoded = Encoding.ASCII.GetString(TransferEncodings.EncodeBase64Lines(data));
        var lines = encoded.Split("\r\n");
        Assert.All(lines[..^1], line => Assert.Equal(76, line.Length));
        Assert.Equal(data, Convert.FromBase64String(encoded.Replace("\r\n", "", StringComparison.Ordinal)));
        Assert.Equal(data, TransferEncodings.DecodeBase64(Encoding.ASCII.GetBytes(encoded)));
        Assert.Empty(TransferEncodings.EncodeBase64Lines([]));
    }

    [Fact]
    public void Base64_decoding_is_lenient()
    {
        Assert.Equal("hello"u8.ToArray(), TransferEncodings.DecodeBase64("aGVs\r\n bG8"u8));
        Assert.Equal("hello"u8.ToArray(), TransferEncodings.DecodeBase64("aGVsbG8=\r\n=junk"u8));
    }
}
