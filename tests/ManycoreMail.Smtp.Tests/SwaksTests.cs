using System.Text;
using ManycoreMail.Smtp.Tests.Support;

namespace ManycoreMail.Smtp.Tests;

/// <summary>swaks, a client we did not write, against the server: STARTTLS then AUTH.</summary>
public sealed class SwaksTests
{
    private const string Swaks = "/usr/bin/swaks";

    [Theory]
    [InlineData("PLAIN")]
    [InlineData("LOGIN")]
    public async Task Swaks_delivers_over_starttls_with_auth(string mechanism)
    {
        var options = TestServer.DefaultOptions with
        {
            CertificateProvider = CertificateHolder.Provider,
            AuthEnabled = true,
            RequireAuthentication = true,
        };
        await using var server = TestServer.Start(options);
        using var swaks = ExternalProcess.Start(
            Swaks,
            "--server", $"127.0.0.1:{server.EndPoint.Port}",
            "--tls",
            "--auth", mechanism,
            "--auth-user", "user",
            "--auth-password", "secret",
            "--helo", "swaks.test",
            "--from", "sender@example.com",
            "--to", "rcpt@example.com",
            "--header", "Subject: swaks " + mechanism,
            "--body", "hello from swaks\n.leading dot",
            "--timeout", "15");

        var exitCode = await swaks.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(exitCode == 0, "swaks failed:\n" + swaks.Output);

        var message = Assert.Single(server.Handler.Messages);
        Assert.True(message.IsTls);
        Assert.Equal("user", message.AuthenticatedUser);
        Assert.Equal("sender@example.com", message.Envelope.ReversePath);
        Assert.Equal(["rcpt@example.com"], message.Envelope.Recipients);
        var text = Encoding.UTF8.GetString(message.Body);
        Assert.Contains("Subject: swaks " + mechanism + "\r\n", text, StringComparison.Ordinal);
        Assert.Contains("\r\nhello from swaks\r\n.leading dot\r\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Swaks_with_a_wrong_password_fails_and_nothing_is_delivered()
    {
        var options = TestServer.DefaultOptions with
        {
            CertificateProvider = CertificateHolder.Provider,
            AuthEnabled = true,
            RequireAuthentication = true,
        };
        await using var server = TestServer.Start(options);
        using var swaks = ExternalProcess.Start(
            Swaks,
            "--server", $"127.0.0.1:{server.EndPoint.Port}",
            "--tls", "--auth", "PLAIN", "--auth-user", "user", "--auth-password", "wrong",
            "--from", "sender@example.com", "--to", "rcpt@example.com", "--timeout", "15");

        var exitCode = await swaks.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.NotEqual(0, exitCode);
        Assert.Contains("535 5.7.8", swaks.Output, StringComparison.Ordinal);
        Assert.Empty(server.Handler.Messages);
    }
}
