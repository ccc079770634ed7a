using System.Security.Cryptography.X509Certificates;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>The forwarder's smarthost (<c>mxserver/forwarding/relay</c>, <c>route: relay</c>) with credentials and no
/// tls key, against a relay that offers AUTH even without TLS: the sending server hears 451 and the relay gets no
/// credentials unless its certificate chains to <c>ca-file</c>.</summary>
public sealed class ForwardingRelayTrustTests(TestWorld world) : IClassFixture<TestWorld>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private const string Message = "From: carol@orig.test\r\nTo: info@alias.test\r\nSubject: via a relay\r\n\r\nHello\r\n";

    [Fact]
    public async Task Credentials_go_only_to_a_relay_whose_certificate_is_in_ca_file_over_tls_otherwise_the_sender_is_told_451()
    {
        using var trusted = DeliveryHarness.SelfSigned();
        using var impostor = DeliveryHarness.SelfSigned();
        X509Certificate2? presented = impostor;
        await using var relay = SenderRelayTrustTests.StartRelay(() => presented, out var port);
        using var webhook = new WebhookListener();
        var caFile = Path.Combine(world.Directory, $"relay-ca-{Guid.NewGuid():N}.pem");
        await File.WriteAllTextAsync(caFile, trusted.ExportCertificatePem());
        var config = ForwardingTests.WriteConfig(world, webhook.Url, $"""
                route: relay
                relay:
                  host: 127.0.0.1
                  port: {port}
                  username: {SenderRelayTrustTests.User}
                  password: {SenderRelayTrustTests.Password}
                  ca-file: {caFile}

            """);
        await using var mailer = await RunningMailer.StartAsync(config);

        // A self-signed certificate that is not the one in ca-file: no AUTH, no mail, and the sender retries later.
        var (impostorCode, impostorOutput) = await SendAsync(config);
        Assert.True(impostorCode != 0 && impostorOutput.Contains("<** 451 4.4.0", StringComparison.Ordinal), impostorOutput);
        Assert.Equal(0, relay.Handler.AuthAttempts);

        // STARTTLS stripped from the relay's EHLO reply: the credentials are not sent in plain text instead.
        presented = null;
        var (strippedCode, strippedOutput) = await SendAsync(config);
        Assert.True(strippedCode != 0 && strippedOutput.Contains("<** 451 4.4.0", StringComparison.Ordinal), strippedOutput);
        Assert.Equal(0, relay.Handler.AuthAttempts);
        Assert.Empty(relay.Handler.Delivered);
        Assert.Contains("mxserver_forward_deferred_total 2", await mailer.MetricsAsync(), StringComparison.Ordinal);

        // The relay the ca-file names: AUTH inside TLS, and the mail.
        presented = trusted;
        var (code, output) = await SendAsync(config);
        Assert.True(code == 0, output);
        var delivered = await Eventually.GetAsync(() => Task.FromResult(relay.Handler.Delivered.Count >= 2 ? relay.Handler.Delivered.ToArray() : null),
            Patience, "the forwarded mail at the relay");
        Assert.Equal(["alice@ok.test", "bob@ok.test"], delivered.Select(d => d.Recipient).Order());
        Assert.All(delivered, d => Assert.True(d.Session.IsTls));
        Assert.All(delivered, d => Assert.Equal(SenderRelayTrustTests.User, d.Session.AuthenticatedUser));
        Assert.Equal(1, relay.Handler.AuthAttempts);
    }

    [Fact]
    public async Task A_utf8_sender_the_relay_client_cannot_write_is_refused_for_good_instead_of_deferred_for_ever()
    {
        await using var relay = SenderRelayTrustTests.StartRelay(() => null, out var port);
        using var webhook = new WebhookListener();
        var config = ForwardingTests.WriteConfig(world, webhook.Url, $"""
                route: relay
                relay:
                  host: 127.0.0.1
                  port: {port}
                  tls: none

            """);
        await using var mailer = await RunningMailer.StartAsync(config);

        // Accepted with SMTPUTF8, but its SRS return path would need SMTPUTF8 at the relay, which our client does not
        // speak: a permanent refusal, so the sending server bounces it rather than retrying for ever.
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(config.Mx);
        await using var stream = client.GetStream();
        using var reader = new StreamReader(stream, System.Text.Encoding.UTF8);
        async Task<string> ReplyAsync()
        {
            string line;
            do
            {
                line = await reader.ReadLineAsync().WaitAsync(Patience) ?? throw new IOException("connection closed");
            }
            while (line.Length > 3 && line[3] == '-');
            return line;
        }
        async Task<string> SayAsync(string command)
        {
            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(command + "\r\n"));
            return await ReplyAsync();
        }

        Assert.StartsWith("220", await ReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("250", await SayAsync("EHLO client.test"), StringComparison.Ordinal);
        Assert.StartsWith("250", await SayAsync("MAIL FROM:<jörg@orig.test> SMTPUTF8"), StringComparison.Ordinal);
        Assert.StartsWith("250", await SayAsync("RCPT TO:<info@alias.test>"), StringComparison.Ordinal);
        Assert.StartsWith("354", await SayAsync("DATA"), StringComparison.Ordinal);
        var verdict = await SayAsync(Message.Replace("carol@orig.test", "jörg@orig.test", StringComparison.Ordinal) + ".");
        Assert.StartsWith("553 5.6.7", verdict, StringComparison.Ordinal);
        Assert.Empty(relay.Handler.Delivered);
    }

    private static Task<(int ExitCode, string Output)> SendAsync(MailerConfig config) =>
        Swaks.SendAsync(config.Mx, Message, "--from", "carol@orig.test", "--to", "info@alias.test");
}
