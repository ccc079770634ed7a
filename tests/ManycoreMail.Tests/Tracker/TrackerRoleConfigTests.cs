using ManycoreMail.Cli;
using ManycoreMail.Config;
using ManycoreMail.Hosting;

namespace ManycoreMail.Tests.Tracker;

/// <summary>The tracker is a role like the others: in <c>mailer run</c> when <c>tracking</c> is configured, and
/// <c>mailer tracker</c> alone on the Redis it names.</summary>
public sealed class TrackerRoleConfigTests
{
    private const string Tracking = """
        tracking:
          bind: {inet-interface: 127.0.0.1, inet-port: 8081}
          base-url: https://t.example.com
          secrets: ["the tracking key 0123456789"]

        """;

    [Fact]
    public void Mailer_run_starts_the_tracker_only_when_the_tracking_section_exists()
    {
        Assert.Contains(RoleNames.Tracker, RoleNames.All);
        Assert.Contains(RoleNames.Tracker, MailerHost.ConfiguredRoles(ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Tracking).Options));
        Assert.DoesNotContain(RoleNames.Tracker, MailerHost.ConfiguredRoles(ConfigLoader.Parse(MinimalGlobalConfig.Yaml, "").Options));
        Assert.Contains(MailerCli.Build().Subcommands, command => command.Name == "tracker");
    }

    [Fact]
    public void A_lone_tracker_runs_on_the_redis_its_section_names_and_otherwise_says_where_to_name_one()
    {
        var withRedis = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Tracking + """
              reliable-queue:
                redis:
                  hostname: redis.internal
                  port: 6380

            """);
        Assert.Empty(withRedis.Warnings);
        Assert.Equal("redis.internal", withRedis.Options.Redis.Hostname);
        Assert.Equal(QueueBackend.Redis, RoleQueueChoice.For(RoleNames.Tracker, null, withRedis.Options.Redis).Backend);

        var refusal = RoleQueueChoice.For(RoleNames.Tracker, null, ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Tracking).Options.Redis);
        Assert.Null(refusal.Backend);
        Assert.Contains("tracking/reliable-queue/redis/hostname", refusal.Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void Trusted_proxies_are_networks_and_anything_else_is_named()
    {
        var options = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Tracking + "  trusted-proxies: [10.0.0.0/8, 192.0.2.1]\n").Options;
        Assert.Equal(new[] { System.Net.IPNetwork.Parse("10.0.0.0/8"), System.Net.IPNetwork.Parse("192.0.2.1/32") }, options.Tracking!.TrustedProxies);
        Assert.Empty(ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Tracking).Options.Tracking!.TrustedProxies);

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Tracking + "  trusted-proxies: [the-lb]\n"));
        Assert.Contains("tracking/trusted-proxies", error.Message, StringComparison.Ordinal);
        Assert.Contains("the-lb", error.Message, StringComparison.Ordinal);
    }
}
