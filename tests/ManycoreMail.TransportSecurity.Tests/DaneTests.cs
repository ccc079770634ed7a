using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using ManycoreMail.Dns;
using ManycoreMail.TestSupport;

namespace ManycoreMail.TransportSecurity.Tests;

/// <summary>DANE against real peers: nsd serving a signed zone, unbound validating it, openssl s_server as the MX's TLS.</summary>
public sealed class DaneTests(DaneWorld world) : IClassFixture<DaneWorld>
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Tlsa_records_from_the_signed_zone_come_back_authenticated_with_their_fields()
    {
        using var resolver = world.CreateResolver();
        var tlsa = await resolver.ResolveTlsaAsync("_25._tcp.mx-ee.mail.test", None);
        Assert.True(tlsa.IsOk, world.Dns.Log);
        Assert.True(tlsa.Authenticated);
        var record = Assert.Single(tlsa.Records);
        Assert.Equal((3, 1, 1), (record.Usage, record.Selector, record.MatchingType));
        Assert.Equal(TestPki.SpkiSha256(world.EeCertificate), Convert.ToHexStringLower(record.Data.Span));

        var mx = await resolver.ResolveMxAsync("ee.mail.test", None);
        Assert.True(mx.Authenticated);
    }

    [Fact]
    public async Task Answers_from_an_unsigned_zone_are_not_authenticated()
    {
        using var resolver = world.CreateResolver();
        var tlsa = await resolver.ResolveTlsaAsync("_25._tcp.mx.plain.test", None);
        Assert.True(tlsa.IsOk, world.Dns.Log);
        Assert.False(tlsa.Authenticated);
    }

    [Fact]
    public async Task A_tampered_tlsa_record_fails_validation_and_the_host_is_skipped_not_downgraded()
    {
        using var resolver = world.CreateResolver();
        var tlsa = await resolver.ResolveTlsaAsync("_25._tcp.mx-bogus.mail.test", None);
        Assert.Equal(DnsStatus.TemporaryFailure, tlsa.Status);

        var policy = await Policy(resolver).ResolveAsync("bogus.mail.test", ["mx-bogus.mail.test"], None);
        var host = Assert.Single(policy.Hosts);
        Assert.Equal(TlsPolicyKind.Tlsa, host.Kind);
        Assert.NotNull(host.Skip);
    }

    [Fact]
    public async Task Tlsa_of_an_unsigned_zone_leave_delivery_opportunistic()
    {
        using var resolver = world.CreateResolver();
        var policy = await Policy(resolver).ResolveAsync("plain.test", ["mx.plain.test"], None);
        var host = Assert.Single(policy.Hosts);
        Assert.Equal(TlsPolicyKind.None, host.Kind);
        Assert.False(host.TlsRequired);
    }

    [Fact]
    public async Task Dane_ee_accepts_the_published_key_whatever_its_name_and_refuses_another()
    {
        using var resolver = world.CreateResolver();
        var policy = await Policy(resolver).ResolveAsync("ee.mail.test", ["mx-ee.mail.test"], None);
        var host = policy.For("mx-ee.mail.test");
        Assert.Equal(TlsPolicyKind.Tlsa, host.Kind);
        Assert.True(host.TlsRequired);
        Assert.Null(host.Skip);

        await HandshakeAsync(world.EeCertificate, [], host);
        var refused = await Assert.ThrowsAsync<AuthenticationException>(() => HandshakeAsync(world.OtherCertificate, [], host));
        Assert.NotNull(refused);
    }

    [Fact]
    public async Task Dane_ta_accepts_a_leaf_chained_to_the_published_ca_and_refuses_a_self_signed_one()
    {
        using var resolver = world.CreateResolver();
        var policy = await Policy(resolver).ResolveAsync("ta.mail.test", ["mx-ta.mail.test"], None);
        var host = policy.For("mx-ta.mail.test");
        Assert.Equal(TlsPolicyKind.Tlsa, host.Kind);

        await HandshakeAsync(world.TaLeaf, [world.Ca], host);
        await Assert.ThrowsAsync<AuthenticationException>(() => HandshakeAsync(TestPki.SelfSigned("mx-ta.mail.test"), [], host));
    }

    [Fact]
    public async Task Dane_ta_needs_the_mx_name_in_the_leaf()
    {
        var leaf = TestPki.Issue(world.Ca, "elsewhere.mail.test");
        var host = new HostTlsPolicy("mx-ta.mail.test", TlsPolicyKind.Tlsa, true, null, false,
            [new TlsaRecord(2, 0, 1, Convert.FromHexString(TestPki.Sha256Hex(world.Ca.RawData)))], null);
        await Assert.ThrowsAsync<AuthenticationException>(() => HandshakeAsync(leaf, [world.Ca], host));
    }

    [Fact]
    public async Task Dane_ta_with_the_full_ca_key_published_accepts_a_chain_without_the_ca_and_a_digest_does_not()
    {
        // RFC 7671 §5.2.2: with 2 1 0 the key itself is the anchor, so the server may leave the CA certificate out.
        var spki = world.Ca.PublicKey.ExportSubjectPublicKeyInfo();
        var fullKey = new HostTlsPolicy("mx-ta.mail.test", TlsPolicyKind.Tlsa, true, null, false, [new TlsaRecord(2, 1, 0, spki)], null);
        await HandshakeAsync(world.TaLeaf, [], fullKey);
        await HandshakeAsync(world.TaLeaf, [world.Ca], fullKey);

        // A digest names a certificate the server must send (RFC 7672 §3.1.2); a key that did not sign the leaf is no anchor.
        var digest = fullKey with { Tlsa = [new TlsaRecord(2, 1, 1, System.Security.Cryptography.SHA256.HashData(spki))] };
        await Assert.ThrowsAsync<AuthenticationException>(() => HandshakeAsync(world.TaLeaf, [], digest));
        using var otherCa = TestPki.CreateCa("Another DANE test CA");
        var otherKey = fullKey with { Tlsa = [new TlsaRecord(2, 1, 0, otherCa.PublicKey.ExportSubjectPublicKeyInfo())] };
        var refused = await Assert.ThrowsAsync<AuthenticationException>(() => HandshakeAsync(world.TaLeaf, [], otherKey));
        Assert.Contains("matches a DANE-TA", refused.Message, StringComparison.Ordinal);

        // The name check still applies to a leaf under a key-only anchor.
        using var elsewhere = TestPki.Issue(world.Ca, "elsewhere.mail.test");
        await Assert.ThrowsAsync<AuthenticationException>(() => HandshakeAsync(elsewhere, [], fullKey));
    }

    private static TransportPolicy Policy(IDnsResolver resolver) => new(resolver, mtaSts: null, dane: true, new CertificateTrust());

    /// <summary>A real TLS handshake with openssl s_server presenting <paramref name="certificate"/> (and chain), the
    /// host policy's check as the validation callback; throws when the check refuses.</summary>
    private async Task HandshakeAsync(X509Certificate2 certificate, X509Certificate2[] chain, HostTlsPolicy host)
    {
        var name = Guid.NewGuid().ToString("N");
        using var server = await OpenSslServer.StartAsync(TestPki.WritePem(certificate, world.Directory, name, chain), world.Directory);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(System.Net.IPAddress.Loopback, server.Port);
        await using var tls = new SslStream(tcp.GetStream());
        string? refusal = null;
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = host.Host,
                RemoteCertificateValidationCallback = (_, presented, presentedChain, errors) => (refusal = host.Check(presented, presentedChain, errors)) is null,
            });
        }
        catch (AuthenticationException e) when (refusal is not null)
        {
            throw new AuthenticationException(refusal, e); // the policy's reason, for the test's failure message
        }
    }
}
