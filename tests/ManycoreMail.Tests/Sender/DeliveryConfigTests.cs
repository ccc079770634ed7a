using ManycoreMail.Config;
using ManycoreMail.Smtp.Client;

namespace ManycoreMail.Tests.Sender;

public sealed class DeliveryConfigTests
{
    private const string Global = MinimalGlobalConfig.Yaml;

    [Fact]
    public void Reads_pools_shaping_tls_relay_and_lifetimes()
    {
        const string customer = """
            backdata:
              post-url: http://127.0.0.1:9/events
              event-types: [delivered, bounce, deferred]
            sender:
              helo-name: mailer.example.com
              source-address: 127.0.0.1
              max-connections-per-site: 4
              max-deliveries-per-connection: 7
              idle-timeout-seconds: 9
              tls-required-domains: [Bank.Example]
              shaping:
                - name: slow
                  domains: [slow.example]
                  messages-per-minute: 30
                  delay-between-deliveries-ms: 250
              relay:
                host: smarthost.example
                port: 587
                username: u
                password: p
              relay-domains:
                - domain: partner.example
                  host: 127.0.0.1
                  port: 465
              queue-lifetimes:
                - queue: "newsletter:*"
                  max-queue-lifetime-seconds: 259200
            """;

        var delivery = ConfigLoader.Parse(Global, customer).Options.Sender.Delivery;

        Assert.Equal("127.0.0.1", delivery.SourceAddress!.ToString());
        Assert.Equal(4, delivery.DefaultLimits.MaxConnections);
        Assert.Equal(7, delivery.DefaultLimits.MaxDeliveriesPerConnection);
        Assert.Equal(TimeSpan.FromSeconds(9), delivery.IdleTimeout);
        Assert.Equal(["bank.example"], delivery.TlsRequiredDomains);
        var slow = Assert.Single(delivery.ShapingRules, r => r.Name == "slow");
        Assert.Equal(30, slow.Limits.MessagesPerMinute);
        Assert.Equal(TimeSpan.FromMilliseconds(250), slow.Limits.DelayBetweenDeliveries);
        Assert.Contains(delivery.ShapingRules, r => r.Name == "orange");
        Assert.Equal(SmtpTlsMode.Required, delivery.Relay!.Tls); // 587 means STARTTLS
        Assert.Equal("u", delivery.Relay.Username);
        Assert.Equal(SmtpTlsMode.Implicit, Assert.Single(delivery.DomainRelays).Value.Tls);
        Assert.Equal(TimeSpan.FromDays(3), Assert.Single(delivery.QueueLifetimes).Lifetime);
    }

    [Fact]
    public void Defaults_ship_the_provider_rules()
    {
        var delivery = ConfigLoader.Parse(Global, "sender:\n  helo-name: mailer.example.com\n").Options.Sender.Delivery;

        Assert.Null(delivery.Relay);
        Assert.Equal(7, delivery.ShapingRules.Count);
    }

    [Fact]
    public void A_bad_tls_mode_is_reported_with_its_key()
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, "sender:\n  relay:\n    host: h\n    tls: sometimes\n", "g.yaml", "c.yaml"));

        Assert.Contains("sender/relay/tls", error.Message);
    }
}
