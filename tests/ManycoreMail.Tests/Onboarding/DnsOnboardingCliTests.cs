using System.Text.RegularExpressions;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Tests.Onboarding;

/// <summary>The two commands through the real <c>mailer</c> with configuration files: keygen's printed record,
/// once dnsmasq serves it, is what dns check finds.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed partial class DnsOnboardingCliTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mm-onboarding-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task The_record_keygen_prints_for_the_configured_selector_passes_dns_check()
    {
        var keyFile = Path.Combine(_directory, "dkim", "cli.test.pem");
        var global = Path.Combine(_directory, "global.yaml");
        await File.WriteAllTextAsync(global, MinimalGlobalConfig.Yaml);

        var (keygenExit, keygenOutput) = await MailerAsync(["dkim", "keygen", "cli.test", "--bits", "1024", .. ConfigArguments(global, keyFile, dns: null)]);

        Assert.True(keygenExit == 0, keygenOutput);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        var record = keygenOutput.Split('\n').Single(l => l.StartsWith("sel1._domainkey.cli.test. IN TXT ", StringComparison.Ordinal));
        var strings = QuotedString().Matches(record).Select(m => m.Value);

        using var dns = Dnsmasq.Start([
            $"txt-record=sel1._domainkey.cli.test,{string.Join(',', strings)}",
            "txt-record=cli.test,\"v=spf1 ip4:192.0.2.30 -all\"",
            "txt-record=_dmarc.cli.test,\"v=DMARC1; p=quarantine\"",
            "mx-host=cli.test,mail.cli.test,10",
            "host-record=mail.cli.test,192.0.2.30",
            "local=/2.0.192.in-addr.arpa/",
            "ptr-record=30.2.0.192.in-addr.arpa,mail.cli.test"]);
        var (checkExit, table) = await MailerAsync(["dns", "check", "cli.test", .. ConfigArguments(global, keyFile, dns)]);

        Assert.True(checkExit == 0, table);
        Assert.Contains("sel1._domainkey.cli.test holds the key of", table, StringComparison.Ordinal);
        Assert.Equal(5, table.Split('\n').Count(l => Regex.IsMatch(l, @"^\w+\s+\S+\s+OK\s")));

        var (againExit, againOutput) = await MailerAsync(["dkim", "keygen", "cli.test", .. ConfigArguments(global, keyFile, dns)]);
        Assert.Equal(2, againExit);
        Assert.Contains("--force", againOutput, StringComparison.Ordinal);
    }

    private string[] ConfigArguments(string global, string keyFile, Dnsmasq? dns)
    {
        var customer = Path.Combine(_directory, "customer.yaml");
        File.WriteAllText(customer, $"""
            transformer:
              email-headers:
                inject:
                  List-Unsubscribe: x
              domain-settings:
                - domain: cli.test
                  dkim-private-key-file: {keyFile}
                  return-path-domain: cli.test
                  selector: sel1
            sender:
              helo-name: mail.cli.test
              source-address: 192.0.2.30
              dns-servers: ["{dns?.EndPoint.ToString() ?? "127.0.0.1:1"}"]
            """);
        return ["--global-config-file", global, "--customer-config-file", customer];
    }

    private async Task<(int Exit, string Output)> MailerAsync(string[] arguments)
    {
        var mailer = Path.Combine(AppContext.BaseDirectory, "mailer.dll");
        using var process = PeerProcess.Start("dotnet", [mailer, .. arguments], _directory);
        var exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (exit, process.Output);
    }

    [GeneratedRegex("\"[^\"]*\"")]
    private static partial Regex QuotedString();
}
