using System.Security.Cryptography.X509Certificates;
using ManycoreMail.Dns;
using ManycoreMail.TestSupport;

namespace ManycoreMail.TransportSecurity.Tests;

/// <summary>One signed zone for the DANE tests (nsd behind a validating unbound), with the certificates its TLSA
/// records describe:
/// <list type="bullet">
/// <item>ee.mail.test: MX mx-ee, TLSA 3 1 1 of <see cref="EeCertificate"/> (self-signed, names another host: DANE-EE checks no name)</item>
/// <item>ta.mail.test: MX mx-ta, TLSA 2 0 1 of <see cref="Ca"/>; <see cref="TaLeaf"/> is issued by it for mx-ta</item>
/// <item>bogus.mail.test: MX mx-bogus whose TLSA record was changed after signing (validation fails)</item>
/// <item>plain.test (unsigned): MX mx.plain.test with a TLSA record that must not count</item>
/// </list></summary>
public sealed class DaneWorld : IAsyncLifetime
{
    public X509Certificate2 EeCertificate { get; } = TestPki.SelfSigned("not-the-mx.example");
    public X509Certificate2 OtherCertificate { get; } = TestPki.SelfSigned("mx-ee.mail.test");
    public X509Certificate2 Ca { get; } = TestPki.CreateCa("DANE test CA");
    public X509Certificate2 TaLeaf { get; private set; } = null!;
    public SignedDns Dns { get; private set; } = null!;
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("dane-").FullName;

    public DnsResolver CreateResolver() => new(DnsResolverOptions.FromServers([Dns.EndPoint.ToString()]));

    public async Task InitializeAsync()
    {
        TaLeaf = TestPki.Issue(Ca, "mx-ta.mail.test");
        const string BogusData = "1111111111111111111111111111111111111111111111111111111111111111";
        Dns = await SignedDns.StartAsync("mail.test", [
            "ee MX 10 mx-ee.mail.test.",
            "mx-ee A 127.0.0.1",
            $"_25._tcp.mx-ee TLSA 3 1 1 {TestPki.SpkiSha256(EeCertificate)}",
            "ta MX 10 mx-ta.mail.test.",
            "mx-ta A 127.0.0.1",
            $"_25._tcp.mx-ta TLSA 2 0 1 {TestPki.Sha256Hex(Ca.RawData)}",
            "bogus MX 10 mx-bogus.mail.test.",
            "mx-bogus A 127.0.0.1",
            $"_25._tcp.mx-bogus TLSA 3 1 1 {BogusData}",
        ], new Dictionary<string, IEnumerable<string>>
        {
            ["plain.test"] = ["@ MX 10 mx.plain.test.", "mx A 127.0.0.1", $"_25._tcp.mx TLSA 3 1 1 {TestPki.SpkiSha256(EeCertificate)}"],
        },
        // A changed record no longer matches its RRSIG: unbound must answer SERVFAIL.
        tamper: zone => zone.Replace(BogusData, new string('2', BogusData.Length), StringComparison.OrdinalIgnoreCase));
    }

    public Task DisposeAsync()
    {
        Dns?.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
        return Task.CompletedTask;
    }
}
