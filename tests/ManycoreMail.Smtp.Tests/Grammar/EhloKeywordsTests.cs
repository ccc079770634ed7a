using System.Buffers;
using System.Text;
using ManycoreMail.Smtp.Server.Grammar;

namespace ManycoreMail.Smtp.Tests.Grammar;

public sealed class EhloKeywordsTests
{
    private static string[] Lines(EhloOffer offer)
    {
        var writer = new ArrayBufferWriter<byte>();
        EhloKeywords.Write(writer, offer);
        var text = Encoding.ASCII.GetString(writer.WrittenSpan);
        Assert.EndsWith("\r\n", text);
        return text[..^2].Split("\r\n");
    }

    [Fact]
    public void Everything_offered_in_a_fixed_order()
    {
        Assert.Equal(
        [
            "250-mx.test", "250-PIPELINING", "250-SIZE 35882577", "250-STARTTLS", "250-AUTH PLAIN LOGIN", "250-8BITMIME",
            "250-SMTPUTF8", "250-CHUNKING", "250-DSN", "250 ENHANCEDSTATUSCODES",
        ], Lines(new EhloOffer("mx.test", 35882577, StartTls: true, Auth: true, Smtputf8: true, Chunking: true, Dsn: true)));
    }

    [Fact]
    public void Only_the_base_keywords_when_nothing_optional_is_offered()
    {
        Assert.Equal(
            ["250-mx.test", "250-PIPELINING", "250-SIZE 0", "250-8BITMIME", "250 ENHANCEDSTATUSCODES"],
            Lines(new EhloOffer("mx.test", 0, StartTls: false, Auth: false, Smtputf8: false, Chunking: false, Dsn: false)));
    }

    [Theory]
    [InlineData(nameof(EhloOffer.StartTls), "250-STARTTLS")]
    [InlineData(nameof(EhloOffer.Auth), "250-AUTH PLAIN LOGIN")]
    [InlineData(nameof(EhloOffer.Smtputf8), "250-SMTPUTF8")]
    [InlineData(nameof(EhloOffer.Chunking), "250-CHUNKING")]
    [InlineData(nameof(EhloOffer.Dsn), "250-DSN")]
    public void Each_option_adds_its_keyword(string option, string line)
    {
        var none = new EhloOffer("mx.test", 10, false, false, false, false, false);
        var one = option switch
        {
            nameof(EhloOffer.StartTls) => none with { StartTls = true },
            nameof(EhloOffer.Auth) => none with { Auth = true },
            nameof(EhloOffer.Smtputf8) => none with { Smtputf8 = true },
            nameof(EhloOffer.Chunking) => none with { Chunking = true },
            _ => none with { Dsn = true },
        };
        Assert.DoesNotContain(line, Lines(none));
        Assert.Contains(line, Lines(one));
        Assert.Equal(Lines(none).Length + 1, Lines(one).Length);
    }
}
