using System.Net;
using System.Security.Cryptography.X509Certificates;
using ManycoreMail.Delivery;
using ManycoreMail.Relay;
using ManycoreMail.Roles.Sender;
using ManycoreMail.Smtp;
using ManycoreMail.Smtp.Client;
using ManycoreMail.Smtp.Server;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>Queue lifetime under an injected clock, and smarthost certificate verification, against real peers.</summary>
public sealed class DeliveryLifecycleTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly string[] Dns = ["mx-host=later.test,mx.later.test,10", "host-record=mx.later.test,127.0.0.53"];

    [Fact]
    public async Task A_message_deferred_past_its_queue_lifetime_bounces_soft_with_an_expiry_reason()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        var server = harness.StartServer("127.0.0.53", new ScriptedHandler((_, _) => new SmtpReply(451, "4.3.0", "Try again later")));
        var clock = new ShiftedClock();
        await harness.StartSenderAsync(o => o with { MaxQueueLifetime = TimeSpan.FromHours(12) }, clock);

        await harness.EnqueueAsync("x1", "late@later.test");
        await Eventually.GetAsync(() => Task.FromResult(server.Handler.Attempts("late@later.test") >= 1 ? "tried" : null), Deadline, "a first attempt");
        // Thirteen hours pass for the sender between the first attempt and the retry it scheduled.
        clock.Advance(TimeSpan.FromHours(13));
        var bounce = Assert.Single(await harness.WaitForEventsAsync(1, Deadline));

        Assert.Equal("bounce", bounce.GetProperty("event").GetString());
        Assert.Equal("soft", bounce.GetProperty("type").GetString());
        Assert.Contains("expired", bounce.GetProperty("reason").GetString());
        Assert.Contains("451 4.3.0 Try again later", bounce.GetProperty("reason").GetString());
        Assert.Empty(server.Handler.Delivered);
    }

    [Fact]
    public async Task A_relay_certificate_is_verified_against_the_configured_authority()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        using var certificate = DeliveryHarness.SelfSigned();
        var caFile = Path.Combine(harness.Directory, "relay-ca.pem");
        await File.WriteAllTextAsync(caFile, certificate.ExportCertificatePem());
        var relayPort = FreePort.Tcp(IPAddress.Loopback);
        var handler = new ScriptedHandler();
        await using var relay = new ScriptedServer(new SmtpServerOptions { ServerName = "relay.test", CertificateProvider = () => certificate }, handler);
        relay.Server.Start(new IPEndPoint(IPAddress.Loopback, relayPort));
        await harness.StartSenderAsync(o => o with
        {
            Delivery = o.Delivery with { Relay = new RelayRoute("127.0.0.1", relayPort, SmtpTlsMode.Required, null, null, caFile) },
        });

        await harness.EnqueueAsync("v1", "a@anywhere.example");
        var delivered = Assert.Single(await harness.WaitForEventsAsync(1, Deadline));

        Assert.Equal("delivered", delivered.GetProperty("event").GetString());
        Assert.True(Assert.Single(handler.Delivered).Session.IsTls);
    }

    [Fact]
    public async Task An_untrusted_relay_certificate_is_refused_and_nothing_goes_out_in_plain_text()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        using var certificate = DeliveryHarness.SelfSigned();
        var relayPort = FreePort.Tcp(IPAddress.Loopback);
        var handler = new ScriptedHandler();
        await using var relay = new ScriptedServer(new SmtpServerOptions { ServerName = "relay.test", CertificateProvider = () => certificate }, handler);
        relay.Server.Start(new IPEndPoint(IPAddress.Loopback, relayPort));
        // Verification is the default; the self-signed certificate chains to nothing the system trusts.
        await harness.StartSenderAsync(o => o with
        {
            Delivery = o.Delivery with { Relay = new RelayRoute("127.0.0.1", relayPort, SmtpTlsMode.Required, null, null) },
        });
        Assert.True(harness.Options!.Delivery.Relay!.VerifyCertificate);

        await harness.EnqueueAsync("u1", "a@anywhere.example");
        var site = await Eventually.GetAsync(() => Task.FromResult(harness.Role!.Engine.Snapshot().FirstOrDefault(s => s.BackoffUntil is not null)),
            Deadline, "the relay in back-off");

        Assert.StartsWith("relay:127.0.0.1:", site.Name, StringComparison.Ordinal);
        Assert.Empty(handler.Delivered);
        // Deferred, never delivered or bounced: the only events are deferred ones (always emitted, posted when listed).
        Assert.All(await harness.WaitForEventsAsync(0, withDeferred: true), e => Assert.Equal("deferred", e.GetProperty("event").GetString()));
    }
}
