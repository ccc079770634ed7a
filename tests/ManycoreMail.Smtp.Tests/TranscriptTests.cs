using ManycoreMail.Smtp.Client;
using ManycoreMail.Smtp.Tests.Support;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Smtp.Tests;

/// <summary>At trace level the server logs the session's transcript, client and server lines, without the message
/// body and without credentials (swaks, a client we did not write, over STARTTLS with AUTH); the client connection,
/// given a transcript logger, logs what it sends and reads the same way.</summary>
public sealed class TranscriptTests
{
    private const string Password = "pa55-w0rd-never-logged";
    private const string Body = "body text that must stay out of the log";

    [Theory]
    [InlineData("PLAIN")]
    [InlineData("LOGIN")]
    public async Task A_trace_transcript_has_the_commands_and_replies_but_no_body_and_no_password(string mechanism)
    {
        var options = TestServer.DefaultOptions with { CertificateProvider = CertificateHolder.Provider, AuthEnabled = true, RequireAuthentication = true };
        var logger = new TestLogger { MinimumLevel = LogLevel.Trace };
        var handler = new RecordingHandler { Credentials = (user, password) => user == "user" && password == Password };
        await using var server = TestServer.Start(options, handler, logger: logger);
        using var swaks = ExternalProcess.Start("/usr/bin/swaks",
            "--server", $"127.0.0.1:{server.EndPoint.Port}", "--tls", "--auth", mechanism, "--auth-user", "user", "--auth-password", Password,
            "--helo", "swaks.test", "--from", "sender@example.com", "--to", "rcpt@example.com", "--body", Body, "--timeout", "15");

        var exitCode = await swaks.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(exitCode == 0, "swaks failed:\n" + swaks.Output);
        Assert.Single(server.Handler.Messages);

        var transcript = logger.Entries.Where(e => e.Level == LogLevel.Trace).Select(e => e.Message).ToList();
        Assert.Contains(transcript, l => l.Contains(" C: EHLO swaks.test", StringComparison.Ordinal));
        Assert.Contains(transcript, l => l.Contains(" C: MAIL FROM:<sender@example.com>", StringComparison.Ordinal));
        Assert.Contains(transcript, l => l.Contains(" C: RCPT TO:<rcpt@example.com>", StringComparison.Ordinal));
        Assert.Contains(transcript, l => l.Contains(" C: DATA", StringComparison.Ordinal));
        Assert.Contains(transcript, l => l.Contains(" C: AUTH " + mechanism, StringComparison.Ordinal));
        Assert.Contains(transcript, l => l.Contains(" S: 354", StringComparison.Ordinal));
        Assert.Contains(transcript, l => l.Contains(" S: 235", StringComparison.Ordinal));
        var plainCredentials = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes("\0user\0" + Password));
        var loginPassword = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(Password));
        Assert.All(transcript, l =>
        {
            Assert.DoesNotContain(Body, l, StringComparison.Ordinal);
            Assert.DoesNotContain(Password, l, StringComparison.Ordinal);
            Assert.DoesNotContain(plainCredentials, l, StringComparison.Ordinal);
            Assert.DoesNotContain(loginPassword, l, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task The_clients_transcript_has_commands_and_replies_but_no_body_and_no_password()
    {
        var options = TestServer.DefaultOptions with { CertificateProvider = CertificateHolder.Provider, AuthEnabled = true, RequireAuthentication = true };
        var handler = new RecordingHandler { Credentials = (user, password) => user == "user" && password == Password };
        await using var server = TestServer.Start(options, handler);
        var transcript = new TestLogger { MinimumLevel = LogLevel.Trace };
        var clientOptions = new SmtpClientOptions { HeloName = "client.test", TlsMode = SmtpTlsMode.Required, CommandTimeout = TimeSpan.FromSeconds(20), Transcript = transcript };
        await using (var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, clientOptions, CancellationToken.None))
        {
            await client.AuthenticateAsync("user", Password, CancellationToken.None);
            var result = await client.SendAsync("a@example.com", ["b@example.com"], System.Text.Encoding.ASCII.GetBytes($"Subject: t\r\n\r\n{Body}\r\n"), CancellationToken.None);
            Assert.Equal(250, result.DataReply?.Code);
            await client.QuitAsync(CancellationToken.None);
        }

        var lines = transcript.Entries.Select(e => e.Message).ToList();
        Assert.Contains(lines, l => l.Contains("> EHLO client.test", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("> AUTH PLAIN <hidden>", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("> MAIL FROM:<a@example.com>", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("> RCPT TO:<b@example.com>", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("< 235", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("< 354", StringComparison.Ordinal));
        var plainCredentials = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes("\0user\0" + Password));
        Assert.All(lines, l =>
        {
            Assert.DoesNotContain(Body, l, StringComparison.Ordinal);
            Assert.DoesNotContain(Password, l, StringComparison.Ordinal);
            Assert.DoesNotContain(plainCredentials, l, StringComparison.Ordinal);
        });
    }
}
