using System.Security.Cryptography;
using ManycoreMail.Cli;
using ManycoreMail.Config;
using ManycoreMail.Dkim;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Tests.Onboarding;

/// <summary><c>mailer dns check</c> with an RSA main key and an Ed25519 extra key: one dkim row per key, against dnsmasq.</summary>
public sealed class DnsCheckDkimKeysTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mm-dnskeys-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Every_configured_key_gets_its_own_dkim_row()
    {
        using var rsa = RSA.Create(1024);
        var rsaFile = Path.Combine(_directory, "rsa.pem");
        File.WriteAllText(rsaFile, rsa.ExportPkcs8PrivateKeyPem());
        var edFile = Path.Combine(_directory, "ed.pem");
        var unpublishedFile = Path.Combine(_directory, "unpublished.pem");
        Assert.Equal(0, DkimKeygenCommand.Run(new KeygenRequest("keys.test", "ed", 0, edFile, Force: false) { Ed25519 = true }, TextWriter.Null, TextWriter.Null));
        Assert.Equal(0, DkimKeygenCommand.Run(new KeygenRequest("keys.test", "later", 0, unpublishedFile, Force: false) { Ed25519 = true }, TextWriter.Null, TextWriter.Null));
        var edRecord = DkimSigningKey.Load("keys.test", "ed", File.ReadAllText(edFile)).PublicKeyRecord();
        var rsaRecord = DkimTxtRecord.Value(rsa);
        using var dns = Dnsmasq.Start([
            $"txt-record=rsa._domainkey.keys.test,\"{rsaRecord[..200]}\",\"{rsaRecord[200..]}\"",
            $"txt-record=ed._domainkey.keys.test,\"{edRecord}\""]);
        var customer = $"""
            transformer:
              email-headers:
                inject:
                  List-Unsubscribe: x
              domain-settings:
                - domain: keys.test
                  dkim-private-key-file: {rsaFile}
                  selector: rsa
                  return-path-domain: keys.test
                  extra-dkim-keys:
                    - {"{"}selector: ed, private-key-file: {edFile}{"}"}
                    - {"{"}selector: later, private-key-file: {unpublishedFile}{"}"}
            sender:
              helo-name: mail.keys.test
              dns-servers: ["{dns.EndPoint}"]
            """;
        var options = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, customer).Options;
        var output = new StringWriter();

        await DnsCheckCommand.RunAsync(options, [], output, TextWriter.Null, CancellationToken.None);

        var rows = output.ToString().Split('\n').Where(l => l.StartsWith("dkim ", StringComparison.Ordinal)).ToArray();
        Assert.Equal(3, rows.Length);
        Assert.Contains(" OK ", rows[0], StringComparison.Ordinal);
        Assert.Contains("rsa._domainkey.keys.test", rows[0], StringComparison.Ordinal);
        Assert.Contains(" OK ", rows[1], StringComparison.Ordinal);
        Assert.Contains("ed._domainkey.keys.test", rows[1], StringComparison.Ordinal);
        Assert.Contains(" FAIL ", rows[2], StringComparison.Ordinal);
        Assert.Contains("publish: later._domainkey.keys.test. IN TXT \"v=DKIM1; k=ed25519; p=", rows[2], StringComparison.Ordinal);
    }
}
