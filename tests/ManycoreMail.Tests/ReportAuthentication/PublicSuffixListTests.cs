using ManycoreMail.ReportAuthentication;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.Tests.ReportAuthentication;

/// <summary>Organizational domains (RFC 7489 §3.2) by the Public Suffix List's rules: normal, wildcard, exception.</summary>
public sealed class PublicSuffixListTests
{
    private static readonly PublicSuffixList Rules = PublicSuffixList.Parse(
    [
        "// a comment",
        "com",
        "uk",
        "co.uk",
        "*.ck",
        "!www.ck",
        "",
        "jp  trailing words are ignored",
    ]);

    [Theory]
    [InlineData("mail.example.com", "example.com")]
    [InlineData("Example.COM.", "example.com")]
    [InlineData("a.b.example.co.uk", "example.co.uk")]
    [InlineData("co.uk", "co.uk")]
    [InlineData("a.b.ck", "a.b.ck")]
    [InlineData("x.y.b.ck", "y.b.ck")]
    [InlineData("mail.www.ck", "www.ck")]
    [InlineData("deep.mail.example.test", "example.test")]
    [InlineData("mail.example.jp", "example.jp")]
    public void The_organizational_domain_is_the_public_suffix_and_one_label(string domain, string organization) =>
        Assert.Equal(organization, Rules.OrganizationalDomain(domain));

    [Fact]
    public void Without_a_list_every_name_is_its_own_organization()
    {
        var missing = PublicSuffixList.Load(Path.Combine(Path.GetTempPath(), "no-such-dir-" + Guid.NewGuid().ToString("N"), "list.dat"), NullLogger.Instance);

        Assert.False(missing.HasRules);
        Assert.Equal("mail.example.com", missing.OrganizationalDomain("Mail.Example.com"));
    }

    [InstalledListFact]
    public void Debians_list_knows_second_level_suffixes()
    {
        var list = PublicSuffixList.Load(PublicSuffixList.DefaultPath, NullLogger.Instance);

        Assert.Equal("example.co.uk", list.OrganizationalDomain("bounces.mail.example.co.uk"));
        Assert.Equal("example.com", list.OrganizationalDomain("fbl.example.com"));
    }
}

/// <summary>A fact that needs Debian's list (test.sh installs the publicsuffix package).</summary>
internal sealed class InstalledListFactAttribute : FactAttribute
{
    public InstalledListFactAttribute()
    {
        if (!File.Exists(PublicSuffixList.DefaultPath))
        {
            Skip = $"{PublicSuffixList.DefaultPath} is absent (Debian's publicsuffix package; test.sh installs it)";
        }
    }
}
