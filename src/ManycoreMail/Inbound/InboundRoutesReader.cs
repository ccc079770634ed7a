using ManycoreMail.Config;
using ManycoreMail.Webhooks;

namespace ManycoreMail.Inbound;

/// <summary>Reads <c>mxserver/inbound-routes</c>; every problem as <c>file: key: problem</c>.</summary>
internal static class InboundRoutesReader
{
    public const string Key = "inbound-routes";

    public static IReadOnlyList<InboundRoute> Read(YamlSection mxServer)
    {
        var routes = new List<InboundRoute>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var entries = mxServer.SectionList(Key);
        for (var i = 0; i < entries.Count; i++)
        {
            var entry = entries[i];
            var match = ReadMatch(entry);
            var url = ReadUrl(entry);
            var format = ReadFormat(entry);
            var secrets = ReadSecrets(entry);
            if (match is not null && !seen.Add(match))
            {
                entry.Error("match", $"'{match}' is already routed by an earlier entry");
                match = null;
            }
            if (match is not null && url is not null && format is { } f && secrets is not null)
            {
                routes.Add(new InboundRoute(match, url, f, secrets));
            }
        }
        return routes;
    }

    private static string? ReadMatch(YamlSection entry)
    {
        var match = entry.String("match", required: true)?.Trim();
        if (match is null)
        {
            return null;
        }
        var at = match.LastIndexOf('@');
        var local = at < 0 ? "" : match[..at];
        var domain = at < 0 ? "" : match[(at + 1)..];
        if (at < 0 || match.IndexOf('@') != at || !IsDomain(domain) || (local.Length > 0 && !IsLocalPart(local)))
        {
            entry.Error("match", $"'{match}' is not an address (local@domain) or a domain (@domain)");
            return null;
        }
        return match.ToLowerInvariant();
    }

    private static Uri? ReadUrl(YamlSection entry)
    {
        var text = entry.String("url", required: true);
        if (text is null)
        {
            return null;
        }
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)
            || url.Host.Length == 0)
        {
            entry.Error("url", $"'{text}' is not an absolute http or https URL");
            return null;
        }
        if (url.UserInfo.Length > 0)
        {
            entry.Error("url", "must not carry credentials; the request is signed with the route's secrets");
            return null;
        }
        return url;
    }

    private static InboundFormat? ReadFormat(YamlSection entry)
    {
        var text = entry.String("format")?.Trim();
        switch (text?.ToLowerInvariant())
        {
            case null or "json":
                return InboundFormat.Json;
            case "raw":
                return InboundFormat.Raw;
            default:
                entry.Error("format", $"'{text}' is not a format; use json or raw");
                return null;
        }
    }

    private static IReadOnlyList<string>? ReadSecrets(YamlSection entry) => SigningSecretsReader.Read(entry, "secrets", required: true);

    private static bool IsDomain(string domain) =>
        domain.Length is > 0 and <= 253 && !domain.StartsWith('.') && !domain.EndsWith('.') && !domain.Contains("..", StringComparison.Ordinal)
        && domain.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.');

    /// <summary>A dot-atom local part (RFC 5322): what an address route can name; quoted forms are not routed.</summary>
    private static bool IsLocalPart(string local) =>
        local.Length <= 64 && !local.StartsWith('.') && !local.EndsWith('.') && !local.Contains("..", StringComparison.Ordinal)
        && local.All(c => char.IsAsciiLetterOrDigit(c) || "!#$&'*+-/=?^_`{|}~.".Contains(c, StringComparison.Ordinal));
}
