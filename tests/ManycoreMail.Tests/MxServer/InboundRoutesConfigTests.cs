using System.Security.Cryptography;
using System.Text;
using ManycoreMail.Config;
using ManycoreMail.Inbound;
using ManycoreMail.Webhooks;

namespace ManycoreMail.Tests.MxServer;

/// <summary><c>mxserver/inbound-routes</c>: what loads, what is refused and how it is named, which route wins, and the
/// Standard Webhooks signer against the specification's published example.</summary>
public sealed class InboundRoutesConfigTests
{
    private static readonly string Secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private static readonly string OtherSecret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));

    private static string Customer(string routes) => $"""
        mxserver:
          bind:
            inet-interface: 127.0.0.1
            inet-port: 2525
          eml-directory: /tmp/eml
          inbound-routes:
        {routes}
        """;

    private static LoadedConfig Load(string routes) => ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Customer(routes), "g.yaml", "c.yaml");

    private static string Errors(string routes) =>
        Assert.Throws<ConfigException>(() => Load(routes)).Message;

    [Fact]
    public void Routes_load_with_their_format_and_secrets_and_an_exact_address_wins_over_its_domain()
    {
        var loaded = Load($"""
                - match: "Support@In.Example.com"
                  url: https://customer.example/hooks/inbound
                  format: raw
                  secrets: ["{Secret}", "{OtherSecret}"]
                - match: "@in.example.com"
                  url: http://127.0.0.1:8000/all
                  secrets: ["{Secret}"]
            """);

        var routes = loaded.Options.MxServer!.InboundRoutes;
        Assert.Equal(2, routes.Count);
        Assert.Equal(("support@in.example.com", InboundFormat.Raw, 2), (routes[0].Match, routes[0].Format, routes[0].Secrets.Count));
        Assert.Equal(InboundFormat.Json, routes[1].Format);
        var table = new InboundRouteTable(routes);
        Assert.Equal("https://customer.example/hooks/inbound", table.Find("SUPPORT@in.example.com")!.Url.ToString());
        Assert.Equal("http://127.0.0.1:8000/all", table.Find("sales@IN.example.com")!.Url.ToString());
        Assert.Null(table.Find("support@example.com"));
        Assert.Null(table.Find("support@sub.in.example.com"));
    }

    [Theory]
    [InlineData("support", "mxserver/inbound-routes[0]/match: 'support' is not an address")]
    [InlineData("a@b@in.example.com", "mxserver/inbound-routes[0]/match: 'a@b@in.example.com' is not an address")]
    [InlineData("@in..example.com", "mxserver/inbound-routes[0]/match")]
    [InlineData("x y@in.example.com", "mxserver/inbound-routes[0]/match")]
    public void A_bad_match_is_named(string match, string expected)
    {
        var message = Errors($"""
                - match: "{match}"
                  url: https://customer.example/in
                  secrets: ["{Secret}"]
            """);
        Assert.Contains("c.yaml: " + expected, message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ftp://customer.example/in")]
    [InlineData("/hooks/inbound")]
    [InlineData("https://user:pass@customer.example/in")]
    public void A_url_that_is_not_absolute_http_without_credentials_is_refused(string url)
    {
        var message = Errors($"""
                - match: "@in.example.com"
                  url: "{url}"
                  secrets: ["{Secret}"]
            """);
        Assert.Contains("c.yaml: mxserver/inbound-routes[0]/url:", message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_format_is_refused()
    {
        var message = Errors($"""
                - match: "@in.example.com"
                  url: https://customer.example/in
                  format: xml
                  secrets: ["{Secret}"]
            """);
        Assert.Contains("c.yaml: mxserver/inbound-routes[0]/format: 'xml' is not a format; use json or raw", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "secrets: needs at least one secret")]
    [InlineData("\"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"", "secret #1 must start with 'whsec_'")]
    [InlineData("\"whsec_not base64!\"", "secret #1 is not 'whsec_' followed by base64")]
    [InlineData("\"whsec_c2hvcnQ=\"", "secret #1 holds a key of 5 bytes")]
    public void A_secret_that_is_not_a_standard_webhooks_secret_is_refused_without_showing_it(string secrets, string expected)
    {
        var message = Errors($"""
                - match: "@in.example.com"
                  url: https://customer.example/in
                  secrets: [{secrets}]
            """);
        Assert.Contains("c.yaml: mxserver/inbound-routes[0]/secrets: ", message, StringComparison.Ordinal);
        Assert.Contains(expected, message, StringComparison.Ordinal);
        Assert.DoesNotContain("c2hvcnQ", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_keys_and_a_repeated_match_are_each_reported()
    {
        var message = Errors($"""
                - match: "@in.example.com"
                  url: https://customer.example/in
                  secrets: ["{Secret}"]
                - match: "@IN.example.com"
                  url: https://customer.example/other
                  secrets: ["{Secret}"]
                - format: json
            """);
        Assert.Contains("c.yaml: mxserver/inbound-routes[1]/match: '@in.example.com' is already routed", message, StringComparison.Ordinal);
        Assert.Contains("c.yaml: mxserver/inbound-routes[2]/match: is required", message, StringComparison.Ordinal);
        Assert.Contains("c.yaml: mxserver/inbound-routes[2]/url: is required", message, StringComparison.Ordinal);
        Assert.Contains("c.yaml: mxserver/inbound-routes[2]/secrets: is required", message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_max_retry_shorter_than_the_first_retry_is_refused()
    {
        var customer = Customer($"""
                - match: "@in.example.com"
                  url: https://customer.example/in
                  secrets: ["{Secret}"]
            """).Replace("  inbound-routes:", "  inbound-first-retry-seconds: 60\n  inbound-max-retry-seconds: 10\n  inbound-routes:", StringComparison.Ordinal);
        var message = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(MinimalGlobalConfig.Yaml, customer, "g.yaml", "c.yaml")).Message;
        Assert.Contains("c.yaml: mxserver/inbound-max-retry-seconds: 10 is shorter than inbound-first-retry-seconds (60)", message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_signer_matches_the_specifications_example_and_signs_with_every_secret()
    {
        // The example the Standard Webhooks specification and its libraries publish.
        const string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        var signer = new StandardWebhookSigner([secret, OtherSecret]);
        var headers = signer.Headers("msg_p5jXN8AQM9LWM0D4loKWxJek", DateTimeOffset.FromUnixTimeSeconds(1614265330),
            Encoding.UTF8.GetBytes("{\"test\": 2432232314}"));

        var signature = headers.Single(h => h.Key == "webhook-signature").Value.Split(' ');
        Assert.Equal("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", signature[0]);
        Assert.Equal(2, signature.Length);
        Assert.StartsWith("v1,", signature[1], StringComparison.Ordinal);
        Assert.NotEqual(signature[0], signature[1]);
        Assert.Equal("1614265330", headers.Single(h => h.Key == "webhook-timestamp").Value);
        Assert.Equal("msg_p5jXN8AQM9LWM0D4loKWxJek", headers.Single(h => h.Key == "webhook-id").Value);
    }
}
