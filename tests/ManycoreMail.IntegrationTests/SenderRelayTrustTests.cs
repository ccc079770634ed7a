using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using ManycoreMail.Delivery;
using ManycoreMail.Relay;
using ManycoreMail.Smtp.Client;
using ManycoreMail.Smtp.Server;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>The sender's smarthost (<c>sender/relay</c>) with credentials and the default TLS policy of port 25
/// (opportunistic), against our SMTP server as a relay that offers AUTH even without TLS (as an impostor would):
/// credentials go only to a relay whose certificate is trusted, over TLS; anything else defers the message.</summary>
public sealed class SenderRelayTrustTests
{
    internal const string User = "relayuser";
    internal const string Password = "s3cret-relay";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly string[] Dns = ["mx-host=unused.test,mx.unused.test,10", "host-record=mx.unused.test,127.0.0.54"];

    [Fact]
    public async Task A_relay_whose_self_signed_certificate_is_not_in_ca_file_never_receives_auth_and_the_message_is_deferred()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        using var trusted = DeliveryHarness.SelfSigned();
        using var impostor = DeliveryHarness.SelfSigned();
        var caFile = await WriteCaFileAsync(harness, trusted);
        await using var relay = StartRelay(() => impostor, out var port);
        await StartSenderAsync(harness, port, caFile);

        await harness.EnqueueAsync("i1", "a@anywhere.example");
        var deferred = await WaitForDeferredAsync(harness);

        var reason = deferred.GetProperty("reason").GetString() ?? "";
        Assert.True(reason.Contains("certificate not trusted", StringComparison.Ordinal), $"the deferral's reason: {reason}");
        Assert.Equal(0, relay.Handler.AuthAttempts);
        Assert.Empty(relay.Handler.Delivered);
        Assert.Equal(1, await harness.Store.CountAsync(DeliveryHarness.Outbound, CancellationToken.None));
    }

    [Fact]
    public async Task The_same_relay_with_its_certificate_in_ca_file_gets_auth_over_tls_and_the_mail()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        using var certificate = DeliveryHarness.SelfSigned();
        var caFile = await WriteCaFileAsync(harness, certificate);
        await using var relay = StartRelay(() => certificate, out var port);
        await StartSenderAsync(harness, port, caFile);

        await harness.EnqueueAsync("t1", "a@anywhere.example");
        var delivered = Assert.Single(await harness.WaitForEventsAsync(1, Deadline));

        Assert.Equal("delivered", delivered.GetProperty("event").GetString());
        var (recipient, session) = Assert.Single(relay.Handler.Delivered);
        Assert.Equal("a@anywhere.example", recipient);
        Assert.True(session.IsTls);
        Assert.Equal(User, session.AuthenticatedUser);
    }

    [Fact]
    public async Task A_relay_that_does_not_offer_starttls_gets_no_credentials_and_the_message_is_deferred_not_lost()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        using var certificate = DeliveryHarness.SelfSigned();
        var caFile = await WriteCaFileAsync(harness, certificate);
        await using var relay = StartRelay(() => null, out var port);
        await StartSenderAsync(harness, port, caFile);

        await harness.EnqueueAsync("p1", "a@anywhere.example");
        var deferred = await WaitForDeferredAsync(harness);

        var reason = deferred.GetProperty("reason").GetString() ?? "";
        Assert.True(reason.Contains("offered no TLS", StringComparison.Ordinal), $"the deferral's reason: {reason}");
        Assert.Equal(0, relay.Handler.AuthAttempts);
        Assert.Empty(relay.Handler.Delivered);
        Assert.Equal(1, await harness.Store.CountAsync(DeliveryHarness.Outbound, CancellationToken.None));
    }

    /// <summary>A relay on a loopback port presenting <paramref name="certificate"/> (none: no STARTTLS), offering
    /// AUTH in plain text too and accepting our credentials.</summary>
    internal static ScriptedServer StartRelay(Func<X509Certificate2?> certificate, out int port)
    {
        var relay = new ScriptedServer(new SmtpServerOptions
        {
            ServerName = "relay.test",
            CertificateProvider = certificate,
            AuthEnabled = true,
            AuthRequiresTls = false,
            RequireAuthentication = true,
        }, new ScriptedHandler { ExpectedUser = User, ExpectedPassword = Password });
        port = relay.Server.Start(new IPEndPoint(IPAddress.Loopback, FreePort.Tcp(IPAddress.Loopback))).Port;
        return relay;
    }

    private static async Task<string> WriteCaFileAsync(DeliveryHarness harness, X509Certificate2 certificate)
    {
        var caFile = Path.Combine(harness.Directory, "relay-ca.pem");
        await File.WriteAllTextAsync(caFile, certificate.ExportCertificatePem());
        return caFile;
    }

    /// <summary>The sender with <c>relay: {host: 127.0.0.1, port, username, password, ca-file}</c>: no tls key, so the
    /// default of a port other than 465 and 587 (opportunistic) applies, and verification is on by default.</summary>
    private static Task StartSenderAsync(DeliveryHarness harness, int port, string caFile) =>
        harness.StartSenderAsync(o => o with
        {
            Delivery = o.Delivery with
            {
                Relay = new RelayRoute("127.0.0.1", port, RelayRoute.DefaultTlsFor(port), User, Password, caFile),
            },
        });

    private static async Task<JsonElement> WaitForDeferredAsync(DeliveryHarness harness)
    {
        var first = (await harness.WaitForEventsAsync(1, Deadline, withDeferred: true))[0];
        Assert.Equal("deferred", first.GetProperty("event").GetString());
        return first;
    }
}
