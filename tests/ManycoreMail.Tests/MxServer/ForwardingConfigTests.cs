using ManycoreMail.Config;
using ManycoreMail.Roles.MxServer;
using ManycoreMail.Smtp.Client;

namespace ManycoreMail.Tests.MxServer;

public sealed class ForwardingConfigTests
{
    private const string Global = MinimalGlobalConfig.Yaml;

    private static string Customer(string forwarding) => $"""
        sender:
          helo-name: mailer.example.com
        mxserver:
          bind:
            inet-interface: 127.0.0.1
            inet-port: 2525
          eml-directory: /tmp/eml
          forwarding:
        {forwarding}
        """;

    [Fact]
    public void Reads_aliases_srs_route_and_the_http_hand_off()
    {
        var options = ConfigLoader.Parse(Global, Customer("""
                aliases:
                  - alias: Info@Alias.Example
                    to: [alice@real.example, bob@real.example]
                  - alias: "@alias.example"
                    to: team@real.example
                srs-secret: 0123456789abcdef0123
                srs-previous-secrets: [old-secret-0123456789]
                srs-domain: Fwd.Example.
                srs-hash-length: 8
                srs-max-age-days: 10
                route: relay
                relay:
                  host: smarthost.example
                  port: 587
                http-bind:
                  inet-interface: 127.0.0.1
                  inet-port: 8025
                psk: a-long-pre-shared-key
            """)).Options.MxServer!.Forwarding!;

        Assert.Equal(["info@alias.example", "@alias.example"], options.Aliases.Select(a => a.Alias));
        Assert.Equal(["alice@real.example", "bob@real.example"], options.Aliases[0].Targets);
        Assert.Equal(["0123456789abcdef0123", "old-secret-0123456789"], options.SrsSecrets);
        Assert.Equal(("fwd.example", 8, TimeSpan.FromDays(10)), (options.SrsDomain, options.SrsHashLength, options.SrsMaxAge));
        Assert.Equal(ForwardingRouteKind.Relay, options.Route);
        Assert.Equal(("smarthost.example", 587, SmtpTlsMode.Required), (options.Relay!.Host, options.Relay.Port, options.Relay.Tls));
        Assert.Equal("127.0.0.1:8025", options.HttpBind!.ToString());
        Assert.Equal("a-long-pre-shared-key", options.Psk);
    }

    [Fact]
    public void Every_problem_is_reported_with_its_key()
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, Customer("""
                aliases:
                  - alias: "victim%other.example@alias.example"
                    to: a@real.example
                  - alias: info@alias.example
                    to: "not an address"
                  - alias: "@alias.example"
                srs-secret: short
                route: carrier-pigeon
                http-bind:
                  inet-interface: 127.0.0.1
                  inet-port: 8025
            """)));
        var text = string.Join("\n", error.Problems);

        Assert.Contains("mxserver/forwarding/aliases[0]/alias", text, StringComparison.Ordinal);
        Assert.Contains("mxserver/forwarding/aliases[1]/to", text, StringComparison.Ordinal);
        Assert.Contains("mxserver/forwarding/aliases[2]/to", text, StringComparison.Ordinal);
        Assert.Contains("mxserver/forwarding/srs-secret", text, StringComparison.Ordinal);
        Assert.Contains("mxserver/forwarding/srs-domain", text, StringComparison.Ordinal);
        Assert.Contains("mxserver/forwarding/route", text, StringComparison.Ordinal);
        Assert.Contains("mxserver/forwarding/psk", text, StringComparison.Ordinal);
    }

    [Fact]
    public void An_exact_alias_wins_over_its_domain_and_case_does_not_matter()
    {
        var table = new AliasTable([
            new AliasEntry("info@alias.example", ["alice@real.example"]),
            new AliasEntry("@alias.example", ["team@real.example"]),
            new AliasEntry("sales@other.example", ["bob@real.example"]),
        ]);

        Assert.True(table.TryResolve("INFO", "Alias.Example", out var info));
        Assert.Equal(["alice@real.example"], info);
        Assert.True(table.TryResolve("anyone", "alias.example", out var team));
        Assert.Equal(["team@real.example"], team);
        Assert.False(table.TryResolve("someone", "other.example", out _));
        Assert.True(table.IsAliasDomain("other.example"));
        Assert.False(table.IsAliasDomain("real.example"));
    }
}
