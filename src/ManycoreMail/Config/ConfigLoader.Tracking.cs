using ManycoreMail.Suppression;
using ManycoreMail.Tracking;

namespace ManycoreMail.Config;

internal static partial class ConfigLoader
{
    private static TrackingOptions? ReadTracking(YamlSection section, List<MetricsBind> metrics)
    {
        if (!section.Exists)
        {
            return null;
        }
        var bind = ReadBind(section, "bind", required: true);
        ReadPrometheus(section, metrics, "tracker");
        ReadLegacyRedis(section);
        var baseUrl = section.String("base-url", required: true);
        var secrets = section.StringList("secrets");
        if (!section.Has("secrets"))
        {
            section.Error("secrets", "is required: a list of secrets, the first signs and all verify");
        }
        var keysValid = false;
        if (secrets.Count > 0)
        {
            try
            {
                _ = new TrackingKeys(secrets);
                keysValid = true;
            }
            catch (TrackingKeyException e)
            {
                // The message names a secret by its position, never its value.
                section.Error("secrets", e.Message);
            }
        }
        else if (section.Has("secrets"))
        {
            section.Error("secrets", "needs at least one secret");
        }
        if (baseUrl is not null && keysValid)
        {
            try
            {
                _ = new TrackingUrls(baseUrl, new TrackingTokenCodec(new TrackingKeys(secrets)));
            }
            catch (ArgumentException e)
            {
                section.Error("base-url", e.Message);
            }
        }
        var scope = SuppressionScope.Sender;
        if (section.String("unsubscribe-scope") is { } scopeName && !SuppressionNames.TryParseScope(scopeName, out scope))
        {
            section.Error("unsubscribe-scope", $"'{scopeName}' is not a scope; use sender, domain, tenant or global");
        }
        var options = new TrackingOptions
        {
            Bind = bind!,
            BaseUrl = baseUrl ?? "",
            Secrets = secrets,
            Opens = section.Bool("opens") ?? true,
            Clicks = section.Bool("clicks") ?? true,
            Unsubscribe = section.Bool("unsubscribe") ?? true,
            UnsubscribeScope = scope,
            TrackTextLinks = section.Bool("track-text-links") ?? false,
            TrustedProxies = ReadNetworks(section, "trusted-proxies"),
        };
        return bind is null || baseUrl is null ? null : options;
    }

    private static SuppressionOptions ReadSuppression(YamlSection section)
    {
        if (!section.Has("auto"))
        {
            return new SuppressionOptions();
        }
        var auto = new HashSet<SuppressionReason>();
        foreach (var name in section.StringList("auto"))
        {
            if (SuppressionNames.TryParseReason(name, out var reason) && reason != SuppressionReason.Manual)
            {
                auto.Add(reason);
            }
            else
            {
                section.Error("auto", $"'{name}' is not a report that suppresses; use unsubscribe, complaint or bounce");
            }
        }
        return new SuppressionOptions { Auto = auto };
    }
}
