using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using ManycoreMail.Config;
using ManycoreMail.Delivery;

namespace ManycoreMail.Roles.Sender;

/// <summary>Reads <c>sender/egress-pools</c>, <c>sender/pool-selection</c>, <c>sender/default-pool</c> and
/// <c>sender/adaptive-shaping</c> (docs/configuration.md, "Egress pools, warm-up and adaptive shaping"). Every problem
/// names the file and key.</summary>
internal static class EgressOptionsReader
{
    public static EgressOptions? ReadPools(YamlSection section)
    {
        var entries = section.SectionList("egress-pools");
        if (entries.Count == 0)
        {
            foreach (var key in (ReadOnlySpan<string>)["pool-selection", "default-pool"])
            {
                if (section.Has(key))
                {
                    section.Error(key, "needs sender/egress-pools");
                }
            }
            return null;
        }
        if (section.Has("source-address"))
        {
            section.Warning("source-address", "ignored: sender/egress-pools names the source addresses");
        }
        var pools = new List<EgressPool>();
        var sourceNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in entries)
        {
            var name = entry.String("name", required: true);
            if (name is not null && pools.Any(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)))
            {
                entry.Error("name", $"duplicate pool name '{name}'");
            }
            var sources = new List<EgressSource>();
            foreach (var source in entry.SectionList("sources"))
            {
                if (ReadSource(source, sourceNames) is { } read)
                {
                    sources.Add(read);
                }
            }
            if (entry.SectionList("sources").Count == 0)
            {
                entry.Error("sources", "a pool needs at least one source");
            }
            if (name is not null)
            {
                pools.Add(new EgressPool(name, sources));
            }
        }
        var known = string.Join(", ", pools.Select(p => p.Name));
        var rules = new List<PoolSelectionRule>();
        foreach (var rule in section.SectionList("pool-selection"))
        {
            var pool = rule.String("pool", required: true);
            var campaign = rule.String("campaign");
            var tenant = rule.String("tenant");
            var fromDomain = rule.String("from-domain")?.Trim().TrimEnd('.').ToLowerInvariant();
            if (campaign is null && tenant is null && fromDomain is null)
            {
                rule.Error("pool", "a pool-selection entry needs campaign, tenant or from-domain");
            }
            if (pool is not null && !IsPool(pools, pool))
            {
                rule.Error("pool", $"unknown pool '{pool}' (egress-pools: {known})");
            }
            else if (pool is not null)
            {
                rules.Add(new PoolSelectionRule(pool, campaign, tenant, fromDomain));
            }
        }
        var defaultPool = section.String("default-pool");
        if (defaultPool is not null && !IsPool(pools, defaultPool))
        {
            section.Error("default-pool", $"unknown pool '{defaultPool}' (egress-pools: {known})");
            defaultPool = null;
        }
        return pools.Count == 0 ? null : new EgressOptions(pools, rules, defaultPool ?? pools[0].Name);
    }

    private static EgressSource? ReadSource(YamlSection source, HashSet<string> names)
    {
        var name = source.String("name", required: true);
        if (name is not null && (name.Length == 0 || name.Any(c => char.IsWhiteSpace(c) || c is '@' or ',' or ':')))
        {
            source.Error("name", $"'{name}' is not a source name (letters, digits, '.', '-', '_')");
        }
        else if (name is not null && !names.Add(name))
        {
            source.Error("name", $"duplicate source name '{name}' (source names are unique over every pool)");
        }
        var addressText = source.String("source-address", required: true);
        IPAddress? address = null;
        if (addressText is not null && !IPAddress.TryParse(addressText, out address))
        {
            source.Error("source-address", $"'{addressText}' is not an IP address");
        }
        var helo = source.String("helo-name");
        if (helo is not null && (helo.Length == 0 || helo.Any(char.IsWhiteSpace)))
        {
            source.Error("helo-name", $"'{helo}' is not a host name");
        }
        var weight = source.Int("weight", min: 1, max: 1000) ?? 1;
        var warmUp = ReadWarmUp(source.Section("warmup"));
        return name is null || address is null ? null : new EgressSource(name, address, helo, weight, warmUp);
    }

    private static WarmUpSchedule? ReadWarmUp(YamlSection warmUp)
    {
        if (!warmUp.Exists)
        {
            return null;
        }
        var startText = warmUp.String("start", required: true);
        DateOnly start = default;
        if (startText is not null && !DateOnly.TryParseExact(startText, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out start))
        {
            warmUp.Error("start", $"'{startText}' is not a date (YYYY-MM-DD)");
            startText = null;
        }
        var steps = new List<WarmUpStep>();
        foreach (var step in warmUp.SectionList("schedule"))
        {
            var day = step.Int("day", required: true, min: 1);
            var cap = step.Int("per-provider", required: true, min: 1);
            if (day is { } d && steps.Count > 0 && d <= steps[^1].Day)
            {
                step.Error("day", $"days must increase (day {d} follows day {steps[^1].Day})");
            }
            else if (day is { } dd && cap is { } c)
            {
                steps.Add(new WarmUpStep(dd, c));
            }
        }
        if (steps.Count == 0)
        {
            warmUp.Error("schedule", "a warm-up needs at least one step {day, per-provider}");
        }
        return startText is null || steps.Count == 0 ? null : new WarmUpSchedule(start, steps);
    }

    public static IReadOnlyList<AdaptiveRule> ReadAdaptive(YamlSection section, Func<YamlSection, SiteLimits, SiteLimits> readLimits)
    {
        var rules = new List<AdaptiveRule>();
        foreach (var entry in section.SectionList("adaptive-shaping"))
        {
            var name = entry.String("name", required: true);
            var actionText = entry.String("action", required: true);
            AdaptiveAction? action = actionText switch
            {
                "suspend" => AdaptiveAction.Suspend,
                "throttle" => AdaptiveAction.Throttle,
                "bounce" => AdaptiveAction.Bounce,
                null => null,
                _ => null,
            };
            if (actionText is not null && action is null)
            {
                entry.Error("action", $"'{actionText}' is not suspend, throttle or bounce");
            }
            var durationText = entry.String("duration", required: true);
            var duration = durationText is null ? null : ParseDuration(durationText);
            if (durationText is not null && duration is null)
            {
                entry.Error("duration", $"'{durationText}' is not a duration (seconds, or a number followed by s, m, h or d)");
            }
            var codeText = entry.String("code");
            var code = codeText is null ? null : AdaptiveRule.ParseCode(codeText);
            if (codeText is not null && code is null)
            {
                entry.Error("code", $"'{codeText}' is not a reply code (421), an enhanced code (4.7.28) or both (421 4.7.28)");
            }
            Regex? match = null;
            if (entry.String("match") is { } pattern)
            {
                try
                {
                    match = new Regex(pattern, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
                }
                catch (ArgumentException e)
                {
                    entry.Error("match", $"not a regular expression: {e.Message}");
                }
            }
            if (codeText is null && match is null)
            {
                entry.Error("code", "an adaptive rule needs code or match");
            }
            var scopeText = entry.String("scope") ?? "site";
            if (scopeText is not ("site" or "source"))
            {
                entry.Error("scope", $"'{scopeText}' is not site or source");
            }
            else if (scopeText == "source" && action is not AdaptiveAction.Suspend)
            {
                entry.Error("scope", "only a suspension can apply to the whole source");
            }
            var limits = entry.Section("limits");
            if (action == AdaptiveAction.Throttle && !limits.Exists)
            {
                entry.Error("limits", "a throttle needs limits (max-connections-per-site, messages-per-minute, ...)");
            }
            if (name is null || action is null || duration is null)
            {
                continue;
            }
            rules.Add(new AdaptiveRule(name, action.Value, duration.Value)
            {
                Provider = entry.String("provider"),
                Domains = entry.StringList("domains").Select(d => d.Trim().TrimEnd('.').ToLowerInvariant()).ToArray(),
                MxSuffixes = entry.StringList("mx-suffixes").Select(d => d.Trim().TrimEnd('.').ToLowerInvariant()).ToArray(),
                Code = code?.Code,
                EnhancedCode = code?.Enhanced,
                Match = match,
                Limits = limits.Exists ? readLimits(limits, SiteLimits.Default with { MaxConnections = int.MaxValue, MaxDeliveriesPerConnection = int.MaxValue }) : null,
                Scope = scopeText == "source" ? AdaptiveScope.Source : AdaptiveScope.Site,
            });
        }
        // Configured rules first: an operator's rule for a reply wins over the shipped one.
        return (section.Bool("shipped-adaptive-shaping") ?? true) ? [.. rules, .. ShippedAdaptiveShaping.Rules] : rules;
    }

    /// <summary>"90" (seconds), "90s", "30m", "4h", "1d".</summary>
    internal static TimeSpan? ParseDuration(string text)
    {
        text = text.Trim();
        var unit = text.Length > 0 && char.IsAsciiLetter(text[^1]) ? char.ToLowerInvariant(text[^1]) : 's';
        var number = char.IsAsciiLetter(text.Length > 0 ? text[^1] : ' ') ? text[..^1] : text;
        if (!int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < 1)
        {
            return null;
        }
        return unit switch
        {
            's' => TimeSpan.FromSeconds(value),
            'm' => TimeSpan.FromMinutes(value),
            'h' => TimeSpan.FromHours(value),
            'd' => TimeSpan.FromDays(value),
            _ => null,
        };
    }

    private static bool IsPool(List<EgressPool> pools, string name) => pools.Any(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
}
