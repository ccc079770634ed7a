using ManycoreMail.Config;
using ManycoreMail.Delivery;

namespace ManycoreMail.Tests;

/// <summary>sender/egress-pools, pool-selection, default-pool and adaptive-shaping as read from the customer file.</summary>
public sealed class EgressConfigTests
{
    private const string Global = MinimalGlobalConfig.Yaml;

    private const string Pools = """
        sender:
          egress-pools:
            - name: warm
              sources:
                - {name: s1, source-address: 192.0.2.10, helo-name: a.mail.example.com, weight: 3}
            - name: fresh
              sources:
                - name: s2
                  source-address: 192.0.2.11
                  helo-name: b.mail.example.com
                  warmup:
                    start: 2026-12-01
                    schedule: [{day: 1, per-provider: 200}, {day: 2, per-provider: 400}]
          pool-selection:
            - {campaign: spring, pool: fresh}
            - {tenant: acme, pool: fresh}
            - {from-domain: example.com, pool: warm}
          default-pool: warm
          adaptive-shaping:
            - name: slow-down
              provider: gmail
              code: 421 4.7.28
              match: unusual rate
              action: throttle
              duration: 30m
              limits: {max-connections-per-site: 1, messages-per-minute: 10}
        """;

    [Fact]
    public void The_issue_shape_reads_into_pools_rules_warm_up_and_adaptive_rules()
    {
        var delivery = ConfigLoader.Parse(Global, Pools).Options.Sender.Delivery;
        var egress = delivery.Egress!;

        Assert.Equal(["warm", "fresh"], egress.Pools.Select(p => p.Name));
        var s1 = Assert.Single(egress.Pools[0].Sources);
        Assert.Equal(("s1", "192.0.2.10", "a.mail.example.com", 3), (s1.Name, s1.Address!.ToString(), s1.HeloName, s1.Weight));
        var s2 = Assert.Single(egress.Pools[1].Sources);
        Assert.Equal(1, s2.Weight);
        Assert.Equal(400, s2.WarmUp!.CapOn(new DateOnly(2026, 12, 2)));
        Assert.Equal(["fresh", "fresh", "warm"], egress.Selection.Select(r => r.Pool));
        Assert.Equal("example.com", egress.Selection[2].FromDomain);
        Assert.Equal("warm", egress.DefaultPool);
        var rule = delivery.AdaptiveRules[0];
        Assert.Equal(("slow-down", AdaptiveAction.Throttle, TimeSpan.FromMinutes(30), 421, "4.7.28"), (rule.Name, rule.Action, rule.Duration, rule.Code, rule.EnhancedCode));
        Assert.Equal(1, rule.Limits!.MaxConnections);
        Assert.Equal(10, rule.Limits.MessagesPerMinute);
        Assert.Equal(1 + ShippedAdaptiveShaping.Rules.Count, delivery.AdaptiveRules.Count);
    }

    [Fact]
    public void Without_egress_pools_there_is_no_explicit_pool_and_the_shipped_adaptive_rules_apply()
    {
        var delivery = ConfigLoader.Parse(Global, "sender:\n  source-address: 192.0.2.10\n").Options.Sender.Delivery;

        Assert.Null(delivery.Egress);
        Assert.Equal(ShippedAdaptiveShaping.Rules, delivery.AdaptiveRules);
    }

    [Theory]
    [InlineData("    - {campaign: spring, pool: nowhere}\n", "sender/pool-selection[0]/pool", "unknown pool 'nowhere'")]
    [InlineData("    - {pool: warm}\n", "sender/pool-selection[0]/pool", "campaign, tenant or from-domain")]
    public void A_selection_rule_naming_no_pool_or_nothing_to_match_is_an_error(string rule, string key, string problem)
    {
        var customer = """
            sender:
              egress-pools:
                - name: warm
                  sources: [{name: s1, source-address: 192.0.2.10}]
              pool-selection:

            """ + rule;

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, customer, "g.yaml", "c.yaml"));

        Assert.Contains($"c.yaml: {key}", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[{name: s1, source-address: 192.0.2.10}, {name: s1, source-address: 192.0.2.11}]", "sources[1]/name", "duplicate source name 's1'")]
    [InlineData("[{name: s1, source-address: not-an-address}]", "sources[0]/source-address", "is not an IP address")]
    [InlineData("[{name: s1, source-address: 192.0.2.10, weight: 0}]", "sources[0]/weight", "")]
    [InlineData("[]", "sources", "at least one source")]
    [InlineData("[{name: s1, source-address: 192.0.2.10, warmup: {start: tomorrow, schedule: [{day: 1, per-provider: 5}]}}]", "sources[0]/warmup/start", "is not a date")]
    public void A_bad_source_is_an_error_naming_its_key(string sources, string key, string problem)
    {
        var customer = $"""
            sender:
              egress-pools:
                - name: warm
                  sources: {sources}
            """;

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, customer, "g.yaml", "c.yaml"));

        Assert.Contains($"c.yaml: sender/egress-pools[0]/{key}", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Duplicate_pool_names_and_an_unknown_default_pool_are_errors()
    {
        const string customer = """
            sender:
              egress-pools:
                - {name: warm, sources: [{name: s1, source-address: 192.0.2.10}]}
                - {name: warm, sources: [{name: s2, source-address: 192.0.2.11}]}
              default-pool: cold
            """;

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, customer, "g.yaml", "c.yaml"));

        Assert.Contains("c.yaml: sender/egress-pools[1]/name", error.Message, StringComparison.Ordinal);
        Assert.Contains("c.yaml: sender/default-pool", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{name: r, code: 421, action: pause, duration: 1h}", "action")]
    [InlineData("{name: r, code: 421, action: suspend, duration: soon}", "duration")]
    [InlineData("{name: r, code: 42, action: suspend, duration: 1h}", "code")]
    [InlineData("{name: r, match: '([', action: suspend, duration: 1h}", "match")]
    [InlineData("{name: r, code: 421, action: throttle, duration: 1h}", "limits")]
    public void A_bad_adaptive_rule_is_an_error_naming_its_key(string rule, string key)
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, $"sender:\n  adaptive-shaping:\n    - {rule}\n", "g.yaml", "c.yaml"));

        Assert.Contains($"c.yaml: sender/adaptive-shaping[0]/{key}", error.Message, StringComparison.Ordinal);
    }
}
