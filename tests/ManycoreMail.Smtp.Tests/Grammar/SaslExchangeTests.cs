using System.Text;
using ManycoreMail.Smtp.Server.Grammar;

namespace ManycoreMail.Smtp.Tests.Grammar;

public sealed class SaslExchangeTests
{
    private static byte[] B(string text) => Encoding.UTF8.GetBytes(text);

    private static string Base64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    [Fact]
    public void Plain_with_an_initial_response_completes_at_once()
    {
        var sasl = new SaslExchange();
        var step = sasl.Start(B("PLAIN " + Base64("\0user\0secret")));
        Assert.Equal(new SaslStep(SaslOutcome.Credentials, "user", "secret"), step);
        Assert.False(sasl.InProgress);
    }

    [Fact]
    public void Plain_without_an_initial_response_asks_for_it()
    {
        var sasl = new SaslExchange();
        Assert.Equal(SaslOutcome.AskResponse, sasl.Start(B("plain")).Outcome);
        Assert.True(sasl.InProgress);
        Assert.Equal(new SaslStep(SaslOutcome.Credentials, "üser", "pässword"), sasl.Respond(B(Base64("üser\0üser\0pässword"))));
        Assert.False(sasl.InProgress);
    }

    [Fact]
    public void Plain_acting_for_somebody_else_gives_credentials_that_never_match()
    {
        var step = new SaslExchange().Start(B("PLAIN " + Base64("admin\0user\0secret")));
        Assert.Equal(SaslOutcome.Credentials, step.Outcome);
        Assert.Equal("", step.User);
    }

    [Theory]
    [InlineData("PLAIN !!!")]
    [InlineData("PLAIN dXNlcg==")]
    public void Plain_that_is_not_base64_or_lacks_the_separators_is_malformed(string args)
    {
        Assert.Equal(SaslOutcome.Malformed, new SaslExchange().Start(B(args)).Outcome);
    }

    [Fact]
    public void Plain_empty_initial_response_is_malformed_not_a_crash()
    {
        Assert.Equal(SaslOutcome.Malformed, new SaslExchange().Start(B("PLAIN =")).Outcome);
    }

    [Fact]
    public void Login_asks_for_user_then_password()
    {
        var sasl = new SaslExchange();
        Assert.Equal(SaslOutcome.AskUser, sasl.Start(B("LOGIN")).Outcome);
        Assert.Equal(SaslOutcome.AskPassword, sasl.Respond(B(Base64("user"))).Outcome);
        Assert.True(sasl.InProgress);
        Assert.Equal(new SaslStep(SaslOutcome.Credentials, "user", "secret"), sasl.Respond(B(Base64("secret"))));
        Assert.False(sasl.InProgress);
    }

    [Fact]
    public void Login_with_an_initial_response_asks_only_for_the_password()
    {
        var sasl = new SaslExchange();
        Assert.Equal(SaslOutcome.AskPassword, sasl.Start(B("LOGIN " + Base64("user"))).Outcome);
        Assert.Equal(new SaslStep(SaslOutcome.Credentials, "user", "secret"), sasl.Respond(B(Base64("secret"))));
    }

    [Fact]
    public void A_star_cancels_at_any_step_and_forgets_the_user()
    {
        var sasl = new SaslExchange();
        sasl.Start(B("LOGIN"));
        sasl.Respond(B(Base64("user")));
        Assert.Equal(SaslOutcome.Cancelled, sasl.Respond(B("*")).Outcome);
        Assert.False(sasl.InProgress);
        sasl.Start(B("PLAIN"));
        Assert.Equal(SaslOutcome.Cancelled, sasl.Respond(B("*")).Outcome);
    }

    [Fact]
    public void A_bad_login_response_ends_the_exchange()
    {
        var sasl = new SaslExchange();
        sasl.Start(B("LOGIN"));
        Assert.Equal(SaslOutcome.Malformed, sasl.Respond(B("%%%")).Outcome);
        Assert.False(sasl.InProgress);
    }

    [Theory]
    [InlineData("CRAM-MD5")]
    [InlineData("")]
    [InlineData("PLAINX")]
    public void Other_mechanisms_are_unknown(string args)
    {
        Assert.Equal(SaslOutcome.UnknownMechanism, new SaslExchange().Start(B(args)).Outcome);
    }

    [Fact]
    public void Responding_without_an_exchange_is_a_bug()
    {
        Assert.Throws<InvalidOperationException>(() => new SaslExchange().Respond(B("x")));
    }
}
