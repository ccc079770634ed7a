using ManycoreMail.Config;

namespace ManycoreMail.Tests;

/// <summary>transformer/domain-settings[]: extra-dkim-keys and the not-before / not-after windows.</summary>
public sealed class DkimKeysConfigTests : IDisposable
{
    private const string Global = ConfigLoaderTests.Global;

    private readonly string _directory = Directory.CreateTempSubdirectory("mm-dkimcfg-").FullName;
    private readonly string _main;
    private readonly string _extra;

    public DkimKeysConfigTests()
    {
        _main = Path.Combine(_directory, "main.pem");
        _extra = Path.Combine(_directory, "extra.pem");
        File.WriteAllText(_main, "");
        File.WriteAllText(_extra, "");
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Customer(string domainExtras) => $"""
        transformer:
          email-headers:
            inject:
              List-Unsubscribe: "<mailto:unsub@example.com>"
          domain-settings:
            - domain: example.com
              dkim-private-key-file: {_main}
              return-path-domain: returns.example.com
              selector: rsa2026
        {domainExtras}
        """;

    [Fact]
    public void Extra_keys_and_windows_load_in_order_with_the_main_key_first()
    {
        var loaded = ConfigLoader.Parse(Global, Customer($"""
                  not-after: 2026-12-31T23:59:59Z
                  extra-dkim-keys:
                    - selector: ed2026
                      private-key-file: {_extra}
                      not-before: 2026-03-01
                      not-after: 2027-03-01T00:00:00+01:00
            """), "g.yaml", "c.yaml");

        var domain = Assert.Single(loaded.Options.Transformer!.Domains);
        var keys = domain.DkimKeys.ToArray();
        Assert.Equal(["rsa2026", "ed2026"], keys.Select(k => k.Selector));
        Assert.Equal([_main, _extra], keys.Select(k => k.PrivateKeyFile));
        Assert.Null(keys[0].NotBefore);
        Assert.Equal(new DateTimeOffset(2026, 12, 31, 23, 59, 59, TimeSpan.Zero), keys[0].NotAfter);
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero), keys[1].NotBefore);
        Assert.Equal(new DateTimeOffset(2027, 2, 28, 23, 0, 0, TimeSpan.Zero), keys[1].NotAfter);
        Assert.Equal("c.yaml: transformer/domain-settings[0]/extra-dkim-keys[0]/private-key-file", keys[1].ConfigKey);
        Assert.DoesNotContain(loaded.Warnings, w => w.Contains("unknown key", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("      not-before: 2026-05-01\n      not-after: 2026-04-01", "c.yaml: transformer/domain-settings[0]/not-after: ")]
    [InlineData("      not-before: next tuesday", "c.yaml: transformer/domain-settings[0]/not-before: 'next tuesday' is not an RFC 3339 date")]
    [InlineData("      extra-dkim-keys:\n        - selector: RSA2026\n          private-key-file: EXTRA", "c.yaml: transformer/domain-settings[0]/extra-dkim-keys[0]/selector: 'RSA2026' is already a selector")]
    [InlineData("      extra-dkim-keys:\n        - selector: ed\n          private-key-file: /nonexistent/ed.pem", "c.yaml: transformer/domain-settings[0]/extra-dkim-keys[0]/private-key-file: file '/nonexistent/ed.pem' does not exist")]
    [InlineData("      extra-dkim-keys:\n        - private-key-file: EXTRA", "c.yaml: transformer/domain-settings[0]/extra-dkim-keys[0]/selector: is required")]
    [InlineData("      extra-dkim-keys:\n        - selector: ed\n          private-key-file: EXTRA\n          not-before: 2026-05-01\n          not-after: 2026-04-30T23:59:59Z", "c.yaml: transformer/domain-settings[0]/extra-dkim-keys[0]/not-after: ")]
    public void Bad_key_settings_are_errors_naming_file_and_key(string extras, string expected)
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, Customer(extras.Replace("EXTRA", _extra, StringComparison.Ordinal)), "g.yaml", "c.yaml"));

        Assert.Contains(error.Problems, p => p.StartsWith(expected, StringComparison.Ordinal));
    }
}
