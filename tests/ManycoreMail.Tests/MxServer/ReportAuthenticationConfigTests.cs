using ManycoreMail.Config;
using ManycoreMail.ReportAuthentication;

namespace ManycoreMail.Tests.MxServer;

/// <summary>The mxserver keys of report authentication: feedback-loops, suppress-unauthenticated, public-suffix-list,
/// report-authentication-timeout-seconds; their defaults and how a bad value is named.</summary>
public sealed class ReportAuthenticationConfigTests
{
    private static string Customer(string keys) => $"""
        mxserver:
          bind:
            inet-interface: 127.0.0.1
            inet-port: 2525
          eml-directory: /tmp/eml
        {keys}
        """;

    private static MxServerOptions Load(string keys) =>
        ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Customer(keys), "g.yaml", "c.yaml").Options.MxServer!;

    [Fact]
    public void The_keys_load_and_their_defaults_authenticate_before_suppressing()
    {
        var defaults = Load("");
        Assert.Empty(defaults.FeedbackLoops);
        Assert.Equal((false, PublicSuffixList.DefaultPath, TimeSpan.FromSeconds(15)),
            (defaults.SuppressUnauthenticated, defaults.PublicSuffixList, defaults.ReportAuthenticationTimeout));

        var set = Load("""
              feedback-loops:
                - domain: FBL.Example.NET.
                - domain: feedback.isp.example
              suppress-unauthenticated: true
              public-suffix-list: /opt/psl.dat
              report-authentication-timeout-seconds: 5
            """);
        Assert.Equal(["fbl.example.net", "feedback.isp.example"], set.FeedbackLoops);
        Assert.Equal((true, "/opt/psl.dat", TimeSpan.FromSeconds(5)),
            (set.SuppressUnauthenticated, set.PublicSuffixList, set.ReportAuthenticationTimeout));
    }

    [Fact]
    public void A_bad_value_is_named_by_file_and_key()
    {
        var message = Assert.Throws<ConfigException>(() => Load("""
              feedback-loops:
                - domain: abuse@isp.example
                - name: no domain
              suppress-unauthenticated: sometimes
              report-authentication-timeout-seconds: 0
            """)).Message;

        Assert.Contains("c.yaml: mxserver/feedback-loops[0]/domain: 'abuse@isp.example' is not a domain name", message, StringComparison.Ordinal);
        Assert.Contains("mxserver/feedback-loops[1]/domain", message, StringComparison.Ordinal);
        Assert.Contains("mxserver/suppress-unauthenticated: 'sometimes' is not true or false", message, StringComparison.Ordinal);
        Assert.Contains("mxserver/report-authentication-timeout-seconds", message, StringComparison.Ordinal);
    }
}
