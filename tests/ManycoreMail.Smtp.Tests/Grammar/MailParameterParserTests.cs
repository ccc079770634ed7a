using System.Text;
using ManycoreMail.Smtp.Server;
using ManycoreMail.Smtp.Server.Grammar;

namespace ManycoreMail.Smtp.Tests.Grammar;

public sealed class MailParameterParserTests
{
    private static readonly ParameterPolicy All = new(Smtputf8: true, Dsn: true, Auth: true, MaxMessageSize: 1000);

    private static ParameterError Parse(string parameters, out SmtpMailParameters mail, ParameterPolicy? policy = null) =>
        MailParameterParser.Parse(Encoding.UTF8.GetBytes(parameters), policy ?? All, out mail);

    [Fact]
    public void No_parameters_give_the_defaults()
    {
        Assert.Equal(ParameterError.None, Parse("", out var mail));
        Assert.Equal(SmtpMailParameters.None, mail);
    }

    [Fact]
    public void Every_parameter_is_read_case_insensitively()
    {
        Assert.Equal(ParameterError.None, Parse("size=999 Body=8bitmime smtputf8 ret=hdrs envid=QQ+2B1 AUTH=<>", out var mail));
        Assert.Equal(999, mail.DeclaredSize);
        Assert.Equal(SmtpBodyType.EightBitMime, mail.Body);
        Assert.True(mail.Utf8);
        Assert.Equal(DsnReturn.Headers, mail.Return);
        Assert.Equal("QQ+1", mail.EnvelopeId);
    }

    [Theory]
    [InlineData("BODY=7BIT", SmtpBodyType.SevenBit)]
    [InlineData("BODY=8BITMIME", SmtpBodyType.EightBitMime)]
    public void Body_types(string parameters, SmtpBodyType expected)
    {
        Assert.Equal(ParameterError.None, Parse(parameters, out var mail));
        Assert.Equal(expected, mail.Body);
    }

    [Theory]
    [InlineData("RET=FULL", DsnReturn.Full)]
    [InlineData("RET=HDRS", DsnReturn.Headers)]
    public void Return_values(string parameters, DsnReturn expected)
    {
        Assert.Equal(ParameterError.None, Parse(parameters, out var mail));
        Assert.Equal(expected, mail.Return);
    }

    [Theory]
    [InlineData("FOO=1", "Unsupported")]
    [InlineData("SIZE=1 SIZE=2", "Duplicate")]
    [InlineData("ret=FULL RET=HDRS", "Duplicate")]
    [InlineData("SMTPUTF8=yes", "Syntax")]
    [InlineData("SIZE", "Syntax")]
    [InlineData("SIZE=", "Syntax")]
    [InlineData("SIZE=12a", "BadSize")]
    [InlineData("SIZE=-1", "BadSize")]
    [InlineData("SIZE=1001", "TooLarge")]
    [InlineData("BODY=BINARYMIME", "BadBody")]
    [InlineData("RET=ALL", "BadReturn")]
    [InlineData("ENVID=a=b", "BadEnvelopeId")]
    [InlineData("ENVID=a+2", "BadEnvelopeId")]
    [InlineData("ENVID=a+0A", "BadEnvelopeId")]
    public void Bad_parameters_are_refused_precisely(string parameters, string expected)
    {
        Assert.Equal(Enum.Parse<ParameterError>(expected), Parse(parameters, out _));
    }

    [Fact]
    public void Envelope_id_is_at_most_100_characters_encoded()
    {
        Assert.Equal(ParameterError.None, Parse("ENVID=" + new string('x', 100), out var mail));
        Assert.Equal(100, mail.EnvelopeId!.Length);
        Assert.Equal(ParameterError.BadEnvelopeId, Parse("ENVID=" + new string('x', 101), out _));
    }

    [Theory]
    [InlineData("SMTPUTF8")]
    [InlineData("RET=FULL")]
    [InlineData("ENVID=x")]
    [InlineData("AUTH=<>")]
    public void Keywords_of_an_extension_not_offered_are_unsupported(string parameters)
    {
        var none = new ParameterPolicy(Smtputf8: false, Dsn: false, Auth: false, MaxMessageSize: 1000);
        Assert.Equal(ParameterError.Unsupported, Parse(parameters, out _, none));
        Assert.Equal(ParameterError.None, Parse(parameters, out _));
    }

    [Fact]
    public void Extra_spaces_between_parameters_are_tolerated()
    {
        Assert.Equal(ParameterError.None, Parse("SIZE=5   BODY=7BIT", out var mail));
        Assert.Equal(5, mail.DeclaredSize);
        Assert.Equal(SmtpBodyType.SevenBit, mail.Body);
    }

    [Fact]
    public void Every_error_has_a_reply_with_an_enhanced_code()
    {
        foreach (var error in Enum.GetValues<ParameterError>().Where(e => e != ParameterError.None))
        {
            var reply = Encoding.ASCII.GetString(ParameterReplies.For(error, rcpt: false));
            Assert.Matches(@"^5\d\d 5\.\d\.\d [^\r\n]+\r\n$", reply);
        }

        Assert.Equal("555 5.5.4 Unsupported RCPT parameter\r\n", Encoding.ASCII.GetString(ParameterReplies.For(ParameterError.Unsupported, rcpt: true)));
    }
}
