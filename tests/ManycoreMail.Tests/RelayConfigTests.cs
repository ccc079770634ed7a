using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ManycoreMail.Config;
using ManycoreMail.Smtp.Client;

namespace ManycoreMail.Tests;

/// <summary>A smarthost's keys, the same for the sender and the forwarder.</summary>
public sealed class RelayConfigTests
{
    private const string Global = MinimalGlobalConfig.Yaml;

    private static string Forwarding(string relay) => $"""
        mxserver:
          bind:
            inet-interface: 127.0.0.1
            inet-port: 2525
          eml-directory: /tmp/eml
          forwarding:
            aliases:
              - alias: info@alias.example
                to: a@real.example
            srs-secret: 0123456789abcdef0123
            srs-domain: fwd.example
            route: relay
            relay:
        {relay}
        """;

    [Fact]
    public void Certificates_are_verified_by_default_for_the_sender_and_the_forwarder_relay()
    {
        var sender = ConfigLoader.Parse(Global, "sender:\n  relay:\n    host: smarthost.example\n").Options.Sender.Delivery.Relay!;
        var forwarder = ConfigLoader.Parse(Global, Forwarding("      host: smarthost.example")).Options.MxServer!.Forwarding!.Relay!;

        Assert.True(sender.VerifyCertificate);
        Assert.True(forwarder.VerifyCertificate);
        Assert.Equal(SmtpTlsMode.Opportunistic, forwarder.Tls);
    }

    [Fact]
    public void The_forwarder_relay_reads_ca_file_and_verify_certificate()
    {
        var caFile = Path.GetTempFileName();
        try
        {
            File.WriteAllText(caFile, SelfSignedPem());
            var relay = ConfigLoader.Parse(Global, Forwarding($"      host: 127.0.0.1\n      username: u\n      password: p\n      ca-file: {caFile}\n      verify-certificate: false"))
                .Options.MxServer!.Forwarding!.Relay!;

            Assert.Equal(caFile, relay.CaFile);
            Assert.False(relay.VerifyCertificate);
            Assert.Equal("u", relay.Username);
            Assert.DoesNotContain("password", relay.ToString(), StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            File.Delete(caFile);
        }
    }

    [Fact]
    public void The_sender_wide_switch_is_every_relays_default_and_an_entry_may_override_it()
    {
        const string customer = """
            sender:
              verify-relay-certificates: false
              relay:
                host: smarthost.example
              relay-domains:
                - domain: partner.example
                  host: partner-relay.example
                  verify-certificate: true
            """;

        var delivery = ConfigLoader.Parse(Global, customer).Options.Sender.Delivery;

        Assert.False(delivery.Relay!.VerifyCertificate);
        Assert.True(Assert.Single(delivery.DomainRelays).Value.VerifyCertificate);
    }

    [Fact]
    public void A_ca_file_without_a_certificate_is_reported_with_its_key()
    {
        var caFile = Path.GetTempFileName();
        try
        {
            File.WriteAllText(caFile, "not a certificate\n");
            var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, Forwarding($"      host: 127.0.0.1\n      ca-file: {caFile}"), "g.yaml", "c.yaml"));

            Assert.Contains("c.yaml: mxserver/forwarding/relay/ca-file", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(caFile);
        }
    }

    private static string SelfSignedPem()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = new CertificateRequest("CN=relay.example", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return certificate.ExportCertificatePem();
    }
}
