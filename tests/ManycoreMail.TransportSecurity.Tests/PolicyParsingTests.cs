using ManycoreMail.TransportSecurity.MtaSts;
using ManycoreMail.TransportSecurity.Reporting;

namespace ManycoreMail.TransportSecurity.Tests;

public sealed class PolicyParsingTests
{
    [Theory]
    [InlineData("v=STSv1; id=20160831085700Z;", "20160831085700Z")]
    [InlineData("v=STSv1;id=abc ; ext=1", "abc")]
    [InlineData("v=STSv1; id=", null)]
    [InlineData("v=STSv1; id=has-dash", null)]
    [InlineData("v=STSv2; id=1", null)]
    public void The_sts_record_gives_its_id_only_when_well_formed(string text, string? id) =>
        Assert.Equal(id, MtaStsRecord.Parse(text)?.Id);

    [Fact]
    public void Two_sts_records_mean_none()
    {
        Assert.Null(MtaStsRecord.Select(["v=STSv1; id=1", "v=STSv1; id=2"]));
        Assert.Equal("1", MtaStsRecord.Select(["v=spf1 -all", "v=STSv1; id=1"])?.Id);
    }

    [Fact]
    public void A_policy_with_lf_line_ends_and_unknown_keys_parses()
    {
        var policy = MtaStsPolicy.Parse("version: STSv1\nmode: testing\nmx: MX1.example.com\nfuture: x\nmax_age: 604800\n");
        Assert.Equal(MtaStsMode.Testing, policy.Mode);
        Assert.Equal(["mx1.example.com"], policy.MxPatterns);
        Assert.Equal(TimeSpan.FromDays(7), policy.MaxAge);
    }

    [Theory]
    [InlineData("mode: enforce\nversion: STSv1\nmx: a.example\nmax_age: 1\n", "does not start")]
    [InlineData("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", "not STSv1")]
    [InlineData("version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", "mode 'strict'")]
    [InlineData("version: STSv1\nmode: enforce\nmax_age: 1\n", "no mx")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example\n", "max_age is missing")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -5\n", "max_age '-5'")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 1\n", "mx 'a.*.example'")]
    [InlineData("version: STSv1\nmode: enforce\nmode: testing\nmx: a.example\nmax_age: 1\n", "mode appears twice")]
    [InlineData("<html>", "not 'key: value'")]
    public void A_malformed_policy_is_refused_with_the_reason(string text, string reason) =>
        Assert.Contains(reason, Assert.Throws<FormatException>(() => MtaStsPolicy.Parse(text)).Message);

    [Fact]
    public void Max_age_is_capped_at_a_year()
    {
        var policy = MtaStsPolicy.Parse("version: STSv1\nmode: none\nmax_age: 9999999999\n");
        Assert.Equal(MtaStsPolicy.LongestMaxAge, policy.MaxAge);
    }

    [Theory]
    [InlineData("mail.example.com", "mail.example.com", true)]
    [InlineData("mail.example.com", "MAIL.example.com.", true)]
    [InlineData("*.example.com", "mx.example.com", true)]
    [InlineData("*.example.com", "a.mx.example.com", false)]
    [InlineData("*.example.com", "example.com", false)]
    [InlineData("mail.example.com", "other.example.com", false)]
    public void Mx_patterns_match_exactly_or_one_leftmost_label(string pattern, string host, bool matches) =>
        Assert.Equal(matches, MtaStsPolicy.HostMatches(pattern, host));

    [Fact]
    public void The_tlsrpt_record_keeps_mailto_and_https_addresses_only()
    {
        var record = TlsRptRecord.Parse("v=TLSRPTv1; rua=mailto:tls@example.com,https://r.example.com/v1,ftp://x.example");
        Assert.NotNull(record);
        Assert.Equal(["mailto:tls@example.com", "https://r.example.com/v1"], record.ReportUris.Select(u => u.OriginalString));
        Assert.Null(TlsRptRecord.Parse("v=TLSRPTv1; rua=ftp://x.example"));
        Assert.Null(TlsRptRecord.Select(["v=TLSRPTv1; rua=mailto:a@b.example", "v=TLSRPTv1; rua=mailto:c@d.example"]));
    }
}
