using System.Net;
using ManycoreMail.Config;
using ManycoreMail.Delivery;
using ManycoreMail.Relay;

namespace ManycoreMail.Roles.Sender;

/// <summary>Reads the delivery engine's keys of the customer file's <c>sender</c> section (docs/configuration.md).</summary>
internal static class DeliveryOptionsReader
{
    public static DeliveryOptions Read(YamlSection section)
    {
        var defaults = new DeliveryOptions();
        IPAddress? source = null;
        if (section.String("source-address") is { } sourceText && !IPAddress.TryParse(sourceText, out source))
        {
            section.Error("source-address", $"'{sourceText}' is not an IP address");
        }
        var limits = ReadLimits(section, SiteLimits.Default);
        var rules = new List<ShapingRule>();
        if (section.Bool("shipped-shaping") ?? true)
        {
            rules.AddRange(ShippedShaping.Rules);
        }
        foreach (var rule in section.SectionList("shaping"))
        {
            var domains = rule.StringList("domains").Select(Normalize).ToArray();
            var suffixes = rule.StringList("mx-suffixes").Select(Normalize).ToArray();
            if (domains.Length == 0 && suffixes.Length == 0)
            {
                rule.Error("domains", "a shaping rule needs domains or mx-suffixes");
            }
            rules.Add(new ShapingRule(rule.String("name") ?? string.Join(",", domains.Concat(suffixes)), domains, suffixes, ReadLimits(rule, new SiteLimits
            {
                MaxConnections = int.MaxValue,
                MaxDeliveriesPerConnection = int.MaxValue,
            })));
        }
        // sender/verify-relay-certificates (or its older spelling relay/verify-certificate) is every smarthost's
        // default; an entry's own verify-certificate wins.
        var relaySection = section.Section("relay");
        var verifyRelays = section.Bool("verify-relay-certificates") ?? (relaySection.Exists ? relaySection.Bool("verify-certificate") : null);
        var relays = new List<KeyValuePair<string, RelayRoute>>();
        foreach (var relay in section.SectionList("relay-domains"))
        {
            var domain = relay.String("domain", required: true);
            if (RelayRouteReader.Read(relay, verifyRelays) is { } route && domain is not null)
            {
                relays.Add(new(Normalize(domain), route));
            }
        }
        var lifetimes = new List<QueueLifetime>();
        foreach (var entry in section.SectionList("queue-lifetimes"))
        {
            var queue = entry.String("queue", required: true);
            var seconds = entry.Int("max-queue-lifetime-seconds", required: true, min: 1);
            if (queue is not null && seconds is { } s)
            {
                lifetimes.Add(new QueueLifetime(queue, TimeSpan.FromSeconds(s)));
            }
        }
        return new DeliveryOptions
        {
            SourceAddress = source,
            DefaultLimits = limits,
            ShapingRules = rules,
            IdleTimeout = Seconds(section, "idle-timeout-seconds", defaults.IdleTimeout),
            TlsRequiredDomains = section.StringList("tls-required-domains").Select(Normalize).ToArray(),
            BrokenTlsMemory = Seconds(section, "broken-tls-memory-seconds", defaults.BrokenTlsMemory),
            SiteBackoff = Seconds(section, "site-backoff-seconds", defaults.SiteBackoff),
            MaxSiteBackoff = Seconds(section, "max-site-backoff-seconds", defaults.MaxSiteBackoff),
            MaxRateWait = Seconds(section, "max-rate-wait-seconds", defaults.MaxRateWait, min: 0),
            ConnectTimeout = Seconds(section, "connect-timeout-seconds", defaults.ConnectTimeout),
            CommandTimeout = Seconds(section, "command-timeout-seconds", defaults.CommandTimeout),
            Relay = relaySection.Exists ? RelayRouteReader.Read(relaySection, verifyRelays) : null,
            DomainRelays = relays,
            QueueLifetimes = lifetimes,
            Tenant = TenantKey.Read(section),
            Admin = ReadAdmin(section.Section("admin")),
            SuspendedRetry = Seconds(section, "suspended-retry-seconds", defaults.SuspendedRetry),
            SiteIdleEviction = Seconds(section, "site-idle-eviction-seconds", defaults.SiteIdleEviction),
            Egress = EgressOptionsReader.ReadPools(section),
            AdaptiveRules = EgressOptionsReader.ReadAdaptive(section, ReadLimits),
        };
    }

    private static AdminOptions? ReadAdmin(YamlSection admin)
    {
        if (!admin.Exists)
        {
            return null;
        }
        var interfaceText = admin.String("inet-interface") ?? "127.0.0.1";
        var port = admin.Port("inet-port", required: true);
        var token = admin.String("token", required: true);
        if (!IPAddress.TryParse(interfaceText, out var address))
        {
            admin.Error("inet-interface", $"'{interfaceText}' is not an IP address");
        }
        if (token is not null && token.Length < AdminOptions.MinTokenLength)
        {
            // The endpoint can bounce whole queues: a guessable token is a configuration mistake.
            admin.Error("token", "must be at least 16 characters");
        }
        return address is null || port is null || token is null || token.Length < AdminOptions.MinTokenLength ? null : new AdminOptions(new IPEndPoint(address, port.Value), token);
    }

    private static SiteLimits ReadLimits(YamlSection section, SiteLimits start)
    {
        var delayMs = section.Int("delay-between-deliveries-ms", min: 0);
        return start with
        {
            MaxConnections = section.Int("max-connections-per-site", min: 1, max: 10_000) ?? start.MaxConnections,
            MaxDeliveriesPerConnection = section.Int("max-deliveries-per-connection", min: 1) ?? start.MaxDeliveriesPerConnection,
            MessagesPerSecond = section.Int("messages-per-second", min: 1) ?? start.MessagesPerSecond,
            MessagesPerMinute = section.Int("messages-per-minute", min: 1) ?? start.MessagesPerMinute,
            MessagesPerHour = section.Int("messages-per-hour", min: 1, max: 1_000_000) ?? start.MessagesPerHour,
            DelayBetweenDeliveries = delayMs is { } ms ? TimeSpan.FromMilliseconds(ms) : start.DelayBetweenDeliveries,
            MaxRecipientsPerMessage = section.Int("max-recipients-per-message", min: 1) ?? start.MaxRecipientsPerMessage,
        };
    }

    private static TimeSpan Seconds(YamlSection section, string key, TimeSpan fallback, int min = 1) =>
        section.Int(key, min: min) is { } s ? TimeSpan.FromSeconds(s) : fallback;

    private static string Normalize(string name) => name.Trim().TrimEnd('.').ToLowerInvariant();
}
