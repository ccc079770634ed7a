using System.Text;
using ManycoreMail.Smtp.Internal;
using ManycoreMail.Smtp.Server;
using ManycoreMail.Smtp.Server.Grammar;

namespace ManycoreMail.Smtp.Tests.Grammar;

public sealed class RcptParameterParserTests
{
    private static readonly ParameterPolicy Dsn = new(Smtputf8: true, Dsn: true, Auth: false, MaxMessageSize: 1000);

    private static ParameterError Parse(string parameters, out SmtpRecipientParameters result, bool utf8 = false, ParameterPolicy? policy = null) =>
        RcptParameterParser.Parse(Encoding.UTF8.GetBytes(parameters), policy ?? Dsn, utf8, out result);

    [Theory]
    [InlineData("NOTIFY=NEVER", DsnNotify.Never)]
    [InlineData("notify=success", DsnNotify.Success)]
    [InlineData("NOTIFY=SUCCESS,FAILURE,DELAY", DsnNotify.Success | DsnNotify.Failure | DsnNotify.Delay)]
    [InlineData("NOTIFY=DELAY,FAILURE", DsnNotify.Failure | DsnNotify.Delay)]
    public void Notify_values(string parameters, DsnNotify expected)
    {
        Assert.Equal(ParameterError.None, Parse(parameters, out var result));
        Assert.Equal(expected, result.Notify);
    }

    [Theory]
    [InlineData("NOTIFY=NEVER,SUCCESS")]
    [InlineData("NOTIFY=")]
    [InlineData("NOTIFY=SUCCESS,")]
    [InlineData("NOTIFY=SOMETIMES")]
    [InlineData("NOTIFY=SUCCESS NOTIFY=FAILURE")]
    public void Bad_notify_is_refused(string parameters)
    {
        Assert.Equal(ParameterError.BadNotify, Parse(parameters, out _));
    }

    [Fact]
    public void Orcpt_rfc822_is_xtext_decoded()
    {
        Assert.Equal(ParameterError.None, Parse("NOTIFY=FAILURE ORCPT=rfc822;a+2Bb+3Dc@example.com", out var result));
        Assert.Equal("rfc822", result.OriginalRecipientType);
        Assert.Equal("a+b=c@example.com", result.OriginalRecipient);
        Assert.Equal(DsnNotify.Failure, result.Notify);
    }

    [Fact]
    public void Orcpt_type_is_case_insensitive_and_normalised()
    {
        Assert.Equal(ParameterError.None, Parse("ORCPT=RFC822;a@example.com", out var result));
        Assert.Equal("rfc822", result.OriginalRecipientType);
        Assert.Equal(ParameterError.None, Parse("ORCPT=x-local;a@example.com", out var other));
        Assert.Equal("x-local", other.OriginalRecipientType);
    }

    [Fact]
    public void Orcpt_utf8_decodes_embedded_unicode_escapes()
    {
        // RFC 6533 §3: utf-8-addr-xtext, usable without SMTPUTF8.
        Assert.Equal(ParameterError.None, Parse(@"ORCPT=utf-8;j\x{F6}rg\x{2B}x@example.com", out var result));
        Assert.Equal("utf-8", result.OriginalRecipientType);
        Assert.Equal("jörg+x@example.com", result.OriginalRecipient);
    }

    [Fact]
    public void Orcpt_utf8_takes_raw_utf8_only_in_an_smtputf8_transaction()
    {
        Assert.Equal(ParameterError.BadOriginalRecipient, Parse("ORCPT=utf-8;jörg@example.com", out _, utf8: false));
        Assert.Equal(ParameterError.None, Parse("ORCPT=utf-8;jörg@example.com", out var result, utf8: true));
        Assert.Equal("jörg@example.com", result.OriginalRecipient);
    }

    [Theory]
    [InlineData("ORCPT=a@example.com")]
    [InlineData("ORCPT=;a@example.com")]
    [InlineData("ORCPT=rfc822;")]
    [InlineData("ORCPT=rf c822;a@example.com")]
    [InlineData("ORCPT=rfc822;a+ZZ@example.com")]
    [InlineData("ORCPT=rfc822;a+C3+B6@example.com")]
    [InlineData(@"ORCPT=utf-8;a\x{D800}@example.com")]
    [InlineData(@"ORCPT=utf-8;a\x{0}@example.com")]
    [InlineData(@"ORCPT=utf-8;a\x{1}@example.com")]
    [InlineData(@"ORCPT=utf-8;a\x{110000}@example.com")]
    [InlineData(@"ORCPT=utf-8;a\x{41")]
    [InlineData(@"ORCPT=utf-8;a\y{41}")]
    [InlineData("ORCPT=utf-8;a+b@example.com")]
    [InlineData("ORCPT=rfc822;a@example.com ORCPT=rfc822;b@example.com")]
    public void Bad_orcpt_is_refused(string parameters)
    {
        Assert.Equal(ParameterError.BadOriginalRecipient, Parse(parameters, out _, utf8: true));
    }

    [Fact]
    public void Orcpt_is_at_most_500_characters()
    {
        var local = new string('a', 500 - "rfc822;@x".Length);
        Assert.Equal(ParameterError.None, Parse($"ORCPT=rfc822;{local}@x", out _));
        Assert.Equal(ParameterError.BadOriginalRecipient, Parse($"ORCPT=rfc822;{local}a@x", out _));
    }

    [Theory]
    [InlineData("NOTIFY=NEVER")]
    [InlineData("ORCPT=rfc822;a@example.com")]
    public void Without_dsn_the_parameters_are_unsupported(string parameters)
    {
        var none = new ParameterPolicy(Smtputf8: false, Dsn: false, Auth: false, MaxMessageSize: 1000);
        Assert.Equal(ParameterError.Unsupported, Parse(parameters, out _, policy: none));
    }

    [Theory]
    [InlineData("SIZE=10")]
    [InlineData("NOTIFY")]
    [InlineData("ORCPT")]
    public void Anything_else_is_unsupported(string parameters)
    {
        Assert.Equal(ParameterError.Unsupported, Parse(parameters, out _));
    }

    [Theory]
    [InlineData("rfc822", "a+b=c d@example.com")]
    [InlineData("utf-8", "jörg+x=\\y@exämple.com")]
    [InlineData("utf-8", "a\U0001F600b@example.com")]
    public void What_the_client_encodes_the_server_decodes(string type, string address)
    {
        var encoded = DsnParameters.EncodeOriginalRecipient(type, address);
        Assert.True(Ascii.IsValid(encoded), encoded);
        Assert.Equal(ParameterError.None, Parse("ORCPT=" + encoded, out var result));
        Assert.Equal(type, result.OriginalRecipientType);
        Assert.Equal(address, result.OriginalRecipient);
    }

    [Fact]
    public void Xtext_encoding_escapes_plus_equals_and_controls_in_upper_case_hex()
    {
        Assert.Equal("a+2Bb+3Dc+20d+7F", DsnParameters.EncodeXtext("a+b=c d\u007F"));
    }
}
