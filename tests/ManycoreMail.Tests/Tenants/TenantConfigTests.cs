using ManycoreMail.Config;

namespace ManycoreMail.Tests.Tenants;

public sealed class TenantConfigTests
{
    private static string Customer(string receiverLogins, string apiLogins) => $"""
        httpreceiver:
          bind:
            inet-interface: 127.0.0.1
            inet-port: 8080
            inet-port-metrics: 9090
          auth-logins:
        {apiLogins}
        receiver:
          bind:
            inet-interface: 127.0.0.1
            inet-port: 587
          auth-logins:
        {receiverLogins}
        """;

    [Fact]
    public void Logins_of_both_receivers_carry_their_tenant()
    {
        var options = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Customer(
            "    - username: apa\n      password: banan\n      tenant: acme\n    - username: free\n      password: pw",
            "    - username: admin\n      password: secret\n      tenant: globex")).Options;

        Assert.Equal([("apa", "acme"), ("free", null)], options.Receiver!.Logins.Select(l => (l.Username, l.Tenant)).Order());
        Assert.Equal("globex", Assert.Single(options.HttpReceiver!.Logins).Tenant);
    }

    [Fact]
    public void A_tenant_that_cannot_be_part_of_a_queue_name_is_a_problem_naming_the_login()
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Customer(
            "    - username: apa\n      password: banan\n      tenant: \"spring:acme\"",
            "    - username: admin\n      password: secret\n      tenant: a@b"), "g.yaml", "c.yaml"));

        Assert.Contains(error.Problems, p => p.StartsWith("c.yaml: receiver/auth-logins[0]/tenant: 'spring:acme' is not a tenant name (1 to 64 characters", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.StartsWith("c.yaml: httpreceiver/auth-logins[0]/tenant: 'a@b' is not a tenant name", StringComparison.Ordinal));
    }

    [Fact]
    public void The_senders_default_tenant_is_held_to_the_same_rule()
    {
        var logins = "    - username: apa\n      password: banan";
        var valid = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Customer(logins, logins) + "\nsender:\n  tenant: house\n").Options;
        var error = Assert.Throws<ConfigException>(() =>
            ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Customer(logins, logins) + "\nsender:\n  tenant: \"house:1\"\n", "g.yaml", "c.yaml"));

        Assert.Equal("house", valid.Sender.Delivery.Tenant);
        Assert.Contains(error.Problems, p => p.StartsWith("c.yaml: sender/tenant: 'house:1' is not a tenant name", StringComparison.Ordinal));
    }
}
