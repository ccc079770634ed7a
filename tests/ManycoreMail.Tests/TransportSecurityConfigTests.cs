using ManycoreMail.Config;

namespace ManycoreMail.Tests;

/// <summary><c>sender/mta-sts</c>, <c>sender/dane</c>, <c>sender/ca-file</c>, <c>sender/tls-rpt</c>.</summary>
public sealed class TransportSecurityConfigTests
{
    [Fact]
    public void Mta_sts_and_dane_are_on_and_reports_off_unless_configured()
    {
        var options = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, "sender:\n  helo-name: mailer.example.com\n").Options.Sender.TransportSecurity;

        Assert.True(options.MtaSts);
        Assert.True(options.Dane);
        Assert.Null(options.CaFile);
        Assert.Null(options.TlsRpt);
    }

    [Fact]
    public void The_keys_are_read_with_the_ca_file_as_a_full_path()
    {
        var caFile = Path.GetTempFileName();
        try
        {
            var options = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, $"""
                sender:
                  mta-sts: false
                  dane: false
                  ca-file: {caFile}
                  tls-rpt: {"{"}organization: Example Mail, contact: mailto:tls@example.com{"}"}
                """).Options.Sender.TransportSecurity;

            Assert.False(options.MtaSts);
            Assert.False(options.Dane);
            Assert.Equal(Path.GetFullPath(caFile), options.CaFile);
            Assert.Equal(new TlsReportingOptions("Example Mail", "mailto:tls@example.com"), options.TlsRpt);
        }
        finally
        {
            File.Delete(caFile);
        }
    }

    [Theory]
    [InlineData("sender:\n  ca-file: /nonexistent/roots.pem\n", "customer.yaml: sender/ca-file: '/nonexistent/roots.pem' does not exist")]
    [InlineData("sender:\n  tls-rpt: {organization: Example Mail}\n", "customer.yaml: sender/tls-rpt/contact")]
    [InlineData("sender:\n  tls-rpt: {organization: Example Mail, contact: nobody}\n", "customer.yaml: sender/tls-rpt/contact: 'nobody' is neither a mail address nor a URL")]
    [InlineData("sender:\n  dane: sometimes\n", "customer.yaml: sender/dane: 'sometimes' is not true or false")]
    public void A_bad_value_is_an_error_naming_file_and_key(string yaml, string problem)
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(MinimalGlobalConfig.Yaml, yaml));

        Assert.Contains(error.Problems, p => p.StartsWith(problem, StringComparison.Ordinal));
    }
}
