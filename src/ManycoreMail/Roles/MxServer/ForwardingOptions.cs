using System.Net;
using ManycoreMail.Config;
using ManycoreMail.Delivery;
using ManycoreMail.Relay;

namespace ManycoreMail.Roles.MxServer;

/// <summary>How forwarded mail leaves.</summary>
internal enum ForwardingRouteKind
{
    /// <summary>Onto the outbound queue: the sender delivers it like any mail (MX lookup, or its own
    /// <c>sender/relay</c> smarthost when configured) and retries it.</summary>
    Sender,
    /// <summary>Handed to a smarthost while the sending server waits, so its answer (4xx, 5xx) is ours.</summary>
    Relay,
}

/// <summary>The <c>mxserver/forwarding</c> section: inbound forwarding of alias mail with SRS.</summary>
internal sealed record ForwardingOptions
{
    public IReadOnlyList<AliasEntry> Aliases { get; init; } = [];
    /// <summary>HMAC keys for SRS; the first signs, all verify (rotation).</summary>
    public required IReadOnlyList<string> SrsSecrets { get; init; }
    /// <summary>Our domain in SRS addresses; its MX must be this server, its SPF must allow our senders.</summary>
    public required string SrsDomain { get; init; }
    public int SrsHashLength { get; init; } = 6;
    public TimeSpan SrsMaxAge { get; init; } = TimeSpan.FromDays(21);
    public ForwardingRouteKind Route { get; init; } = ForwardingRouteKind.Sender;
    /// <summary>The smarthost when <see cref="Route"/> is <see cref="ForwardingRouteKind.Relay"/>.</summary>
    public RelayRoute? Relay { get; init; }
    /// <summary>Where <c>POST /v1/email</c> listens; null: not served.</summary>
    public IPEndPoint? HttpBind { get; init; }
    /// <summary>The bearer token <c>POST /v1/email</c> requires.</summary>
    public string? Psk { get; init; }
    /// <summary>A mail with more Received fields than this is a loop and refused (Postfix's hopcount_limit).</summary>
    public int MaxHops { get; init; } = 50;
}

/// <summary>Reads <c>mxserver/forwarding</c>; every problem is reported with its key.</summary>
internal static class ForwardingOptionsReader
{
    public static ForwardingOptions? Read(YamlSection section, IPEndPoint? httpBind)
    {
        if (!section.Exists)
        {
            return null;
        }
        var aliases = new List<AliasEntry>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in section.SectionList("aliases"))
        {
            var alias = item.String("alias", required: true)?.Trim().TrimEnd('.');
            var targets = item.StringList("to").Select(t => t.Trim()).ToArray();
            if (alias is null)
            {
                continue;
            }
            if (!IsAlias(alias))
            {
                item.Error("alias", $"'{alias}' is neither an address (local@domain) nor a domain (@domain)");
                continue;
            }
            if (targets.Length == 0)
            {
                item.Error("to", "is required: one real recipient or a list of them");
                continue;
            }
            foreach (var target in targets.Where(t => !IsAddress(t)))
            {
                item.Error("to", $"'{target}' is not an address (local@domain)");
            }
            if (!seen.Add(alias))
            {
                item.Error("alias", $"'{alias}' is listed twice");
            }
            aliases.Add(new AliasEntry(alias.ToLowerInvariant(), targets));
        }

        var secrets = new List<string>();
        if (section.String("srs-secret") is { } secret)
        {
            secrets.Add(secret);
        }
        secrets.AddRange(section.StringList("srs-previous-secrets"));
        if (secrets.Count == 0 || secrets.Any(s => s.Length < 16))
        {
            section.Error("srs-secret", "is required, at least 16 characters (random; it keeps others from forging bounces to our SRS addresses)");
        }
        var srsDomain = section.String("srs-domain", required: true)?.Trim().TrimEnd('.').ToLowerInvariant();
        var hashLength = section.Int("srs-hash-length", min: 4, max: 27);
        var maxAgeDays = section.Int("srs-max-age-days", min: 1, max: 1000);
        var maxHops = section.Int("max-hops", min: 1, max: 1000);

        var routeText = section.String("route")?.Trim().ToLowerInvariant();
        var route = routeText switch
        {
            null or "sender" => ForwardingRouteKind.Sender,
            "relay" => ForwardingRouteKind.Relay,
            _ => Invalid(section, "route", $"'{routeText}' is not sender or relay"),
        };
        var relaySection = section.Section("relay");
        var relay = relaySection.Exists ? RelayRouteReader.Read(relaySection) : null;
        if (route == ForwardingRouteKind.Relay && !relaySection.Exists)
        {
            section.Error("relay", "is required when route is relay ({host, port, tls, username, password, ca-file, verify-certificate})");
        }

        var psk = section.String("psk");
        if (httpBind is not null && (psk is null || psk.Length < 16))
        {
            section.Error("psk", "is required with http-bind, at least 16 characters (the bearer token of POST /v1/email)");
        }

        return new ForwardingOptions
        {
            Aliases = aliases,
            SrsSecrets = secrets,
            SrsDomain = srsDomain ?? "",
            SrsHashLength = hashLength ?? 6,
            SrsMaxAge = TimeSpan.FromDays(maxAgeDays ?? 21),
            Route = route,
            Relay = relay,
            HttpBind = httpBind,
            Psk = psk,
            MaxHops = maxHops ?? 50,
        };
    }

    private static ForwardingRouteKind Invalid(YamlSection section, string key, string problem)
    {
        section.Error(key, problem);
        return ForwardingRouteKind.Sender;
    }

    private static bool IsAlias(string alias) => alias.StartsWith('@')
        ? alias.Length > 1 && alias.IndexOf('@', 1) < 0 && IsDomainText(alias[1..])
        : IsAddress(alias);

    /// <summary>local@domain with nothing a relay trick could use in it (as <see cref="LocalRecipient"/> parses).</summary>
    private static bool IsAddress(string address)
    {
        var at = address.LastIndexOf('@');
        return at > 0 && at < address.Length - 1
            && address.AsSpan(0, at).IndexOfAny("@%!\"\\:[] ,;<>") < 0
            && IsDomainText(address[(at + 1)..]);
    }

    private static bool IsDomainText(string domain) =>
        domain.Length > 0 && !domain.StartsWith('.') && !domain.EndsWith('.') && domain.Contains('.')
        && domain.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.');
}
