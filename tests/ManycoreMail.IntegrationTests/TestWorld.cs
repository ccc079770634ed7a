using System.Net;
using System.Security.Cryptography;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>
/// The outside world of one test class, all on loopback: dnsmasq with MX and DKIM TXT records for test
/// domains, and a sending domain with its DKIM key. Sinks are started by the tests that need them.
/// Every MX host listens on <see cref="SmtpPort"/> at its own 127.0.0.x address.
/// </summary>
public sealed class TestWorld : IDisposable
{
    public const string SenderDomain = "sender.test";
    public const string ReturnPathDomain = "returns.sender.test";
    public const string Selector = "mailer";

    /// <summary>Domains whose MX is the host at the given loopback address.</summary>
    public static readonly IReadOnlyDictionary<string, IPAddress> MxAddresses = new Dictionary<string, IPAddress>
    {
        ["ok.test"] = IPAddress.Parse("127.0.0.2"),
        ["hard.test"] = IPAddress.Parse("127.0.0.3"),
        ["soft.test"] = IPAddress.Parse("127.0.0.4"),
        ["crash.test"] = IPAddress.Parse("127.0.0.5"),
        ["other.test"] = IPAddress.Parse("127.0.0.6"),
    };

    public TestWorld()
    {
        Directory = Path.Combine(Path.GetTempPath(), "mm-world-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        using var rsa = RSA.Create(2048);
        DkimKeyFile = Path.Combine(Directory, "dkim-sender.test.pem");
        File.WriteAllText(DkimKeyFile, rsa.ExportRSAPrivateKeyPem());
        DkimPublicKey = Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo());
        SmtpPort = FreePort.Tcp(IPAddress.Parse("127.0.0.2"));

        var lines = new List<string>();
        foreach (var (domain, address) in MxAddresses)
        {
            lines.Add($"mx-host={domain},mx.{domain},10");
            lines.Add($"host-record=mx.{domain},{address}");
        }
        lines.Add("mx-host=nullmx.test,.,0");
        // ok.test's mail comes from loopback: SPF passes for it (inbound routes report only to confirmed senders).
        lines.Add("txt-record=ok.test,\"v=spf1 ip4:127.0.0.0/8 -all\"");
        lines.Add($"txt-record={Selector}._domainkey.{SenderDomain},{string.Join(",", Chunk($"v=DKIM1; k=rsa; p={DkimPublicKey}", 250).Select(c => $"\"{c}\""))}");
        Dns = Dnsmasq.Start(lines);
    }

    public string Directory { get; }
    public Dnsmasq Dns { get; }
    public string DkimKeyFile { get; }
    public string DkimPublicKey { get; }
    public int SmtpPort { get; }

    public Task<SmtpSink> StartSinkAsync(string domain, params string[] arguments) =>
        SmtpSink.StartAsync(MxAddresses[domain], SmtpPort, arguments);

    /// <summary>Verifies a message's DKIM signature with dkimpy, fetching the key from our dnsmasq.</summary>
    public async Task<(bool Valid, string Output)> VerifyDkimAsync(byte[] message)
    {
        var file = Path.Combine(Directory, Guid.NewGuid().ToString("N") + ".eml");
        await File.WriteAllBytesAsync(file, message);
        const string script = """
            import sys, dkim, dns.resolver
            server, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [server]
            resolver.port = port
            def dnsfunc(name, timeout=5):
                name = name.decode() if isinstance(name, bytes) else name
                answer = resolver.resolve(name, "TXT", lifetime=timeout)
                return b"".join(b"".join(r.strings) for r in answer)
            message = open(path, "rb").read()
            ok = dkim.verify(message, dnsfunc=dnsfunc)
            print("valid" if ok else "invalid")
            sys.exit(0 if ok else 1)
            """;
        var (code, output) = await PeerProcess.RunAsync("/usr/bin/python3",
            ["-c", script, Dns.EndPoint.Address.ToString(), Dns.EndPoint.Port.ToString(), file], TimeSpan.FromSeconds(30));
        return (code == 0, output);
    }

    public void Dispose()
    {
        Dns.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static IEnumerable<string> Chunk(string text, int size)
    {
        for (var i = 0; i < text.Length; i += size)
        {
            yield return text.Substring(i, Math.Min(size, text.Length - i));
        }
    }
}
