using System.Security.Cryptography;
using ManycoreMail.Cli;
using ManycoreMail.Config;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Tests.Onboarding;

/// <summary><c>mailer dns check</c> against a real dnsmasq serving one good sending domain and one broken one per check.</summary>
public sealed class DnsCheckTests : IDisposable
{
    private const string Helo = "mail.sender.test";
    private const string Source = "192.0.2.10";
    private readonly string _directory = Directory.CreateTempSubdirectory("mm-dnscheck-").FullName;
    private readonly RSA _key = RSA.Create(1024);
    private readonly RSA _otherKey = RSA.Create(1024);

    public void Dispose()
    {
        _key.Dispose();
        _otherKey.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_domain_whose_records_all_hold_gets_only_OK_rows_and_exit_0()
    {
        using var dns = Dnsmasq.Start([.. DomainRecords("good.test"), .. SenderRecords(Helo)]);

        var (exit, table) = await CheckAsync(dns, ["good.test"], Source);

        Assert.True(exit == 0, table);
        Assert.Equal(["dkim good.test OK", "spf good.test OK", "dmarc good.test OK", "mx good.test OK", $"ptr {Helo} OK"], Summary(table));
    }

    [Fact]
    public async Task Each_broken_record_is_a_FAIL_row_saying_what_to_publish_and_the_exit_code_is_1()
    {
        using var dns = Dnsmasq.Start([
            .. DomainRecords("good.test"),
            .. DomainRecords("wrongkey.test", dkimKey: _otherKey),
            .. DomainRecords("nospf.test", spf: null),
            .. DomainRecords("spfdenies.test", spf: "v=spf1 ip4:198.51.100.1 -all"),
            .. DomainRecords("nodmarc.test", dmarc: null),
            .. DomainRecords("badmarc.test", dmarc: "v=DMARC1; p=maybe"),
            .. DomainRecords("mxelsewhere.test", mx: "mx.elsewhere.test"),
            "host-record=mx.elsewhere.test,198.51.100.7",
            .. SenderRecords("other-name.test")]);

        var (exit, table) = await CheckAsync(dns, [], Source);

        Assert.True(exit == 1, table);
        var summary = Summary(table);
        Assert.Contains("dkim good.test OK", summary);
        Assert.Contains("mx good.test OK", summary);
        Assert.Contains("dkim wrongkey.test FAIL", summary);
        Assert.Contains("spf wrongkey.test OK", summary);
        Assert.Contains("spf nospf.test FAIL", summary);
        Assert.Contains("spf spfdenies.test FAIL", summary);
        Assert.Contains("dmarc spfdenies.test OK", summary);
        Assert.Contains("dmarc nodmarc.test FAIL", summary);
        Assert.Contains("dmarc badmarc.test FAIL", summary);
        Assert.Contains("mx mxelsewhere.test FAIL", summary);
        Assert.Contains("dkim mxelsewhere.test OK", summary);
        Assert.Contains($"ptr {Helo} FAIL", summary);
        Assert.Equal(7, summary.Count(row => row.EndsWith(" FAIL", StringComparison.Ordinal)));

        Assert.Contains("publish: mailer._domainkey.wrongkey.test. IN TXT \"v=DKIM1; k=rsa; p=", Line(table, "dkim", "wrongkey.test"), StringComparison.Ordinal);
        Assert.Contains("publish: nospf.test. IN TXT \"v=spf1 ip4:192.0.2.10 -all\"", Line(table, "spf", "nospf.test"), StringComparison.Ordinal);
        Assert.Contains("fail for 192.0.2.10", Line(table, "spf", "spfdenies.test"), StringComparison.Ordinal);
        Assert.Contains("publish: _dmarc.nodmarc.test. IN TXT \"v=DMARC1; p=none;", Line(table, "dmarc", "nodmarc.test"), StringComparison.Ordinal);
        Assert.Contains("MX points at mx.elsewhere.test", Line(table, "mx", "mxelsewhere.test"), StringComparison.Ordinal);
        Assert.Contains($"publish: mxelsewhere.test. IN MX 10 {Helo}.", Line(table, "mx", "mxelsewhere.test"), StringComparison.Ordinal);
        Assert.Contains("PTR other-name.test, not the HELO name", Line(table, "ptr", Helo), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_source_address_SPF_and_PTR_are_WARN_rows_and_the_exit_code_is_1()
    {
        using var dns = Dnsmasq.Start([.. DomainRecords("good.test"), .. SenderRecords(Helo)]);

        var (exit, table) = await CheckAsync(dns, ["good.test"], source: null);

        Assert.True(exit == 1, table);
        Assert.Equal(["dkim good.test OK", "spf good.test WARN", "dmarc good.test OK", "mx good.test OK", $"ptr {Helo} WARN"], Summary(table));
        Assert.Contains("no sender/source-address", Line(table, "ptr", Helo), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_domain_not_in_the_configuration_is_refused_with_exit_2()
    {
        using var dns = Dnsmasq.Start(SenderRecords(Helo));

        var (exit, output) = await CheckAsync(dns, ["unknown.test"], Source);

        Assert.Equal(2, exit);
        Assert.StartsWith("DOMAIN: unknown.test not in transformer/domain-settings", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_mx_servers_extra_domains_get_an_MX_row_each_and_a_wrong_one_fails()
    {
        using var dns = Dnsmasq.Start([.. DomainRecords("good.test"), .. SenderRecords(Helo),
            $"mx-host=bounces.test,{Helo},10", "mx-host=elsewhere.test,mx.other.test,10"]);

        var (exit, table) = await CheckAsync(dns, ["good.test", "bounces.test", "elsewhere.test"], Source, ["bounces.test", "elsewhere.test", "good.test"]);

        Assert.True(exit == 1, table);
        Assert.Equal(["dkim good.test OK", "spf good.test OK", "dmarc good.test OK", "mx good.test OK",
            "mx bounces.test OK", "mx elsewhere.test FAIL", $"ptr {Helo} OK"], Summary(table));
        Assert.Contains($"publish: elsewhere.test. IN MX 10 {Helo}.", Line(table, "mx", "elsewhere.test"), StringComparison.Ordinal);

        // Named alone, an extra domain is checked alone (with the sending address's PTR).
        (exit, table) = await CheckAsync(dns, ["bounces.test"], Source, ["bounces.test"]);
        Assert.True(exit == 0, table);
        Assert.Equal(["mx bounces.test OK", $"ptr {Helo} OK"], Summary(table));
    }

    [Fact]
    public async Task The_srs_domain_gets_SPF_rows_for_every_egress_source_and_an_MX_row()
    {
        // Two egress sources: the second (192.0.2.11, its own HELO name) is not in the SRS domain's SPF record.
        using var dns = Dnsmasq.Start([.. DomainRecords("good.test", spf: "v=spf1 ip4:192.0.2.10 ip4:192.0.2.11 -all"), .. SenderRecords(Helo),
            "ptr-record=11.2.0.192.in-addr.arpa,b.sender.test", "host-record=b.sender.test,192.0.2.11",
            "txt-record=srs.test,\"v=spf1 ip4:192.0.2.10 -all\"", $"mx-host=srs.test,{Helo},10"]);
        var sections = $$"""
              egress-pools:
                - name: warm
                  sources:
                    - {name: s1, source-address: {{Source}}}
                    - {name: s2, source-address: 192.0.2.11, helo-name: b.sender.test}
            mxserver:
              bind: {inet-interface: 0.0.0.0, inet-port: 2525}
              eml-directory: {{_directory}}
              forwarding:
                aliases: [{alias: info@good.test, to: [alice@real.test]}]
                srs-secret: "0123456789abcdef0123"
                srs-domain: srs.test
            """;

        var (exit, table) = await CheckAsync(dns, ["good.test", "srs.test"], source: null, extraSections: sections);

        Assert.True(exit == 1, table);
        Assert.Equal(["dkim good.test OK", "spf good.test OK", "spf good.test OK", "dmarc good.test OK", "mx good.test OK",
            "spf srs.test OK", "spf srs.test FAIL", "mx srs.test OK", $"ptr {Helo} OK", "ptr b.sender.test OK"], Summary(table));
        Assert.Contains("fail for 192.0.2.11", table, StringComparison.Ordinal);

        // Named alone, the SRS domain is checked alone; an unknown name is still refused.
        (exit, table) = await CheckAsync(dns, ["srs.test"], source: null, extraSections: sections);
        Assert.Equal(["spf srs.test OK", "spf srs.test FAIL", "mx srs.test OK", $"ptr {Helo} OK", "ptr b.sender.test OK"], Summary(table));
        (exit, table) = await CheckAsync(dns, ["other.test"], source: null, extraSections: sections);
        Assert.Equal(2, exit);
        Assert.Contains("mxserver/forwarding/srs-domain (configured: ", table, StringComparison.Ordinal);
    }

    private static string[] Summary(string table) =>
        table.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(line => string.Join(' ', line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(3)))
            .ToArray();

    private static string Line(string table, string check, string domain) =>
        table.Split('\n').Single(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [var c, var d, ..] && c == check && d == domain);

    private async Task<(int Exit, string Table)> CheckAsync(Dnsmasq dns, string[] domains, string? source, string[]? extraDomains = null, string? extraSections = null)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var tail = extraSections ?? $"""
            {(source is null ? "" : $"  source-address: {source}")}
            mxserver:
              bind: {"{"} inet-interface: 0.0.0.0, inet-port: 2525 {"}"}
              eml-directory: {_directory}
            {(extraDomains is null ? "" : $"  domains: [{string.Join(", ", extraDomains)}]")}
            """;
        var exit = await DnsCheckCommand.RunAsync(Options(dns, extraSections is null ? Domains : ["good.test"], tail), domains, output, error, CancellationToken.None);
        return (exit, output + error.ToString());
    }

    private static readonly string[] Domains = ["good.test", "wrongkey.test", "nospf.test", "spfdenies.test", "nodmarc.test", "badmarc.test", "mxelsewhere.test"];

    /// <summary>A configuration sending for <paramref name="sendingDomains"/>, with <paramref name="tail"/> appended to the
    /// <c>sender</c> section (its first lines) and after it.</summary>
    private MailerOptions Options(Dnsmasq dns, string[] sendingDomains, string tail)
    {
        var keyFile = Path.Combine(_directory, "key.pem");
        File.WriteAllText(keyFile, _key.ExportPkcs8PrivateKeyPem());
        var domainSettings = string.Concat(sendingDomains.Select(d => $"""

                - domain: {d}
                  dkim-private-key-file: {keyFile}
                  return-path-domain: {d}
            """));
        var customer = $"""
            transformer:
              email-headers:
                inject:
                  List-Unsubscribe: x
              domain-settings:{domainSettings}
            sender:
              helo-name: {Helo}
              dns-servers: ["{dns.EndPoint}"]
            {tail}
            """;
        return ConfigLoader.Parse(MinimalGlobalConfig.Yaml, customer).Options;
    }

    /// <summary>The records a sending domain needs, each one replaceable (null: not published).</summary>
    private IEnumerable<string> DomainRecords(string domain, RSA? dkimKey = null, string? spf = "v=spf1 ip4:192.0.2.10 -all",
        string? dmarc = "v=DMARC1; p=reject", string mx = Helo)
    {
        var value = DkimTxtRecord.Value(dkimKey ?? _key);
        var strings = Enumerable.Range(0, (value.Length + 254) / 255).Select(i => $"\"{value.Substring(i * 255, Math.Min(255, value.Length - i * 255))}\"");
        yield return $"txt-record=mailer._domainkey.{domain},{string.Join(',', strings)}";
        if (spf is not null)
        {
            yield return $"txt-record={domain},\"{spf}\"";
        }
        if (dmarc is not null)
        {
            yield return $"txt-record=_dmarc.{domain},\"{dmarc}\"";
        }
        yield return $"mx-host={domain},{mx},10";
    }

    /// <summary>The sending address's PTR (to <paramref name="ptrName"/>) and the HELO name's address.</summary>
    private static IEnumerable<string> SenderRecords(string ptrName) =>
        ["local=/2.0.192.in-addr.arpa/", $"ptr-record=10.2.0.192.in-addr.arpa,{ptrName}", $"host-record={Helo},{Source}"];
}
