using ManycoreMail.Cli;
using ManycoreMail.Config;

namespace ManycoreMail.Tests;

/// <summary>Dev mode's keys: <c>sender/sink</c>, and backdata without <c>post-url</c> (events stored, nothing posted).</summary>
public sealed class SinkConfigTests
{
    [Fact]
    public void Sink_is_off_unless_configured_and_backdata_without_post_url_posts_nothing()
    {
        var production = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, "backdata:\n  post-url: https://hooks.example.com/events\n").Options;
        var dev = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, "sender:\n  sink: true\nbackdata:\n  event-types: [deferred]\n").Options;

        Assert.False(production.Sender.Sink);
        Assert.True(production.Backdata!.Posts("delivered"));
        Assert.True(dev.Sender.Sink);
        Assert.Null(dev.Backdata!.PostUrl);
        Assert.False(dev.Backdata.Posts("delivered"));
        Assert.False(dev.Backdata.Posts("deferred"));
    }

    [Fact]
    public void A_sink_value_that_is_not_a_boolean_is_an_error()
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(MinimalGlobalConfig.Yaml, "sender:\n  sink: maybe\n"));

        Assert.Contains("customer.yaml: sender/sink: 'maybe' is not true or false", error.Problems);
    }

    [Fact]
    public void The_built_in_local_configuration_sinks_and_has_no_webhook()
    {
        Assert.Contains("sink: true", LocalDefaults.CustomerYaml, StringComparison.Ordinal);
        Assert.DoesNotContain("post-url", LocalDefaults.CustomerYaml, StringComparison.Ordinal);
    }

    [Fact]
    public void The_banner_names_the_ports_and_shows_only_the_built_in_password()
    {
        var options = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, """
            receiver:
              bind: { inet-interface: 127.0.0.1, inet-port: 2587 }
              trusted-networks: [127.0.0.0/8]
            httpreceiver:
              bind: { inet-interface: 0.0.0.0, inet-port: 8080, inet-port-metrics: 9090 }
              auth-logins:
                - { username: local, password: local }
            sender:
              sink: true
            """).Options;

        var builtIn = SinkModeBanner.Text(options, "");
        var fromFiles = SinkModeBanner.Text(options, " --global-config-file g.yaml --customer-config-file c.yaml");

        Assert.Contains("swaks --server 127.0.0.1:2587 --from me@localhost --to you@example.org --add-header 'X-Uuid: 0123abcd' --body 'Hello'" + Environment.NewLine, builtIn);
        Assert.Contains("curl -u local:local -H 'Content-Type: application/json' http://127.0.0.1:8080/v1/messages -d '{", builtIn);
        Assert.Contains("and run `./mailer events` (what became of each recipient).", builtIn);
        Assert.Contains("curl -u local:PASSWORD ", fromFiles);
        Assert.Contains("`./mailer events --global-config-file g.yaml --customer-config-file c.yaml`", fromFiles);
    }
}
