using System.Security.Cryptography.X509Certificates;
using ManycoreMail.Smtp.Client;
using ManycoreMail.Smtp.Tests.Support;

namespace ManycoreMail.Smtp.Tests;

/// <summary>The smarthost connector: credentials only to a verified relay, inside TLS unless the policy is none.</summary>
public sealed class RelayConnectorTests
{
    private static readonly SmtpClientOptions Transport = new()
    {
        HeloName = "client.test",
        CommandTimeout = TimeSpan.FromSeconds(20),
        DataTimeout = TimeSpan.FromSeconds(20),
        ConnectTimeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>Our server as a relay that offers AUTH in plain text too, and counts the AUTH attempts it gets.</summary>
    private static TestServer StartRelay(bool starttls, out Func<int> authAttempts)
    {
        var attempts = 0;
        var handler = new RecordingHandler
        {
            Credentials = (user, password) =>
            {
                Interlocked.Increment(ref attempts);
                return user == "user" && password == "secret";
            },
        };
        authAttempts = () => Volatile.Read(ref attempts);
        return TestServer.Start(TestServer.DefaultOptions with
        {
            CertificateProvider = starttls ? CertificateHolder.Provider : static () => null,
            AuthEnabled = true,
            AuthRequiresTls = false,
        }, handler);
    }

    private static RelayPolicy Policy(SmtpTlsMode tls = SmtpTlsMode.Opportunistic, string host = "localhost") => new()
    {
        Host = host,
        Tls = tls,
        Username = "user",
        Password = "secret",
    };

    private static X509Certificate2Collection TrustedTestRoot() => [X509CertificateLoader.LoadCertificate(CertificateHolder.Provider()!.RawData)];

    [Fact]
    public async Task A_self_signed_certificate_is_refused_by_default_before_any_auth()
    {
        await using var server = StartRelay(starttls: true, out var authAttempts);
        var connector = new RelayConnector(Policy());

        var error = await Assert.ThrowsAsync<SmtpClientException>(() => connector.ConnectAsync(server.EndPoint, Transport, CancellationToken.None));

        Assert.Contains("certificate not trusted", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, authAttempts());
    }

    [Fact]
    public async Task A_certificate_that_chains_to_the_configured_roots_gets_auth_over_tls()
    {
        await using var server = StartRelay(starttls: true, out var authAttempts);
        var connector = new RelayConnector(Policy() with { TrustedRoots = TrustedTestRoot() });

        await using var connection = await connector.ConnectAsync(server.EndPoint, Transport, CancellationToken.None);

        Assert.True(connection.IsTls);
        Assert.Equal(1, authAttempts());
    }

    [Fact]
    public async Task A_trusted_certificate_for_another_name_is_refused()
    {
        await using var server = StartRelay(starttls: true, out var authAttempts);
        var connector = new RelayConnector(Policy(host: "relay.elsewhere.test") with { TrustedRoots = TrustedTestRoot() });

        var error = await Assert.ThrowsAsync<SmtpClientException>(() => connector.ConnectAsync(server.EndPoint, Transport, CancellationToken.None));

        Assert.Contains("does not name relay.elsewhere.test", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, authAttempts());
    }

    [Theory]
    [InlineData(SmtpTlsMode.Opportunistic)]
    [InlineData(SmtpTlsMode.Required)]
    public async Task Without_starttls_the_credentials_are_never_sent(SmtpTlsMode tls)
    {
        await using var server = StartRelay(starttls: false, out var authAttempts);
        var connector = new RelayConnector(Policy(tls));

        // Required: the client's SmtpStartTlsException; opportunistic: the connector's own refusal to send credentials.
        await Assert.ThrowsAnyAsync<SmtpClientException>(() => connector.ConnectAsync(server.EndPoint, Transport, CancellationToken.None));

        Assert.Equal(0, authAttempts());
    }

    [Fact]
    public async Task A_stripped_starttls_is_reported_as_such_and_no_auth_line_is_written()
    {
        await using var peer = new ScriptedPeer(async c =>
        {
            await c.SendAsync("220 relay.test ESMTP\r\n");
            await c.ExpectAsync("EHLO client.test");
            // What a man in the middle leaves of "250-STARTTLS".
            await c.SendAsync("250-relay.test\r\n250-XXXXXXXA\r\n250 AUTH PLAIN LOGIN\r\n");
            // Whatever the client sends next is recorded; it should hang up instead.
            await c.ReadLineAsync();
        });
        var connector = new RelayConnector(Policy());

        var error = await Assert.ThrowsAsync<SmtpClientException>(() => connector.ConnectAsync(peer.EndPoint, Transport, CancellationToken.None));

        Assert.Contains("offered no TLS", error.Message, StringComparison.Ordinal);
        Assert.IsType<IOException>(await Record.ExceptionAsync(() => peer.Completion)); // "client closed"
        Assert.Equal(["EHLO client.test"], peer.Received);
    }

    [Fact]
    public async Task Tls_none_is_the_explicit_way_to_send_credentials_in_plain_text()
    {
        await using var server = StartRelay(starttls: false, out var authAttempts);
        var connector = new RelayConnector(Policy(SmtpTlsMode.None));

        await using var connection = await connector.ConnectAsync(server.EndPoint, Transport, CancellationToken.None);

        Assert.False(connection.IsTls);
        Assert.Equal(1, authAttempts());
    }

    [Fact]
    public async Task Verification_off_accepts_any_certificate_but_still_only_inside_tls()
    {
        await using var server = StartRelay(starttls: true, out var authAttempts);
        var connector = new RelayConnector(Policy() with { VerifyCertificate = false });

        await using var connection = await connector.ConnectAsync(server.EndPoint, Transport, CancellationToken.None);

        Assert.True(connection.IsTls);
        Assert.Equal(1, authAttempts());
    }

    [Fact]
    public void The_password_is_not_printed()
    {
        Assert.DoesNotContain("secret", Policy().ToString(), StringComparison.Ordinal);
    }
}
