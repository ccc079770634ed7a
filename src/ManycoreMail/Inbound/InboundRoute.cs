namespace ManycoreMail.Inbound;

/// <summary>How an inbound mail is posted: the parsed JSON document, or the message itself (message/rfc822).</summary>
internal enum InboundFormat
{
    Json,
    Raw,
}

/// <summary>One <c>mxserver/inbound-routes</c> entry: mail for <see cref="Match"/> is posted to <see cref="Url"/>.</summary>
/// <param name="Match">Lower case: <c>local@domain</c> for one address, <c>@domain</c> for a whole domain.</param>
/// <param name="Secrets">Standard Webhooks secrets (<c>whsec_…</c>); every one signs each request.</param>
internal sealed record InboundRoute(string Match, Uri Url, InboundFormat Format, IReadOnlyList<string> Secrets)
{
    public bool IsDomain => Match.StartsWith('@');
}

/// <summary>
/// Which route a recipient address takes: an exact address match wins over its domain's match. Local parts compare
/// without regard to case (as the MX server's other addresses); the caller has already refused relay tricks.
/// </summary>
internal sealed class InboundRouteTable
{
    private readonly Dictionary<string, InboundRoute> _byAddress = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, InboundRoute> _byDomain = new(StringComparer.OrdinalIgnoreCase);

    public InboundRouteTable(IReadOnlyList<InboundRoute> routes)
    {
        Routes = routes;
        foreach (var route in routes)
        {
            if (route.IsDomain)
            {
                _byDomain.TryAdd(route.Match[1..], route);
            }
            else
            {
                _byAddress.TryAdd(route.Match, route);
            }
        }
        Domains = new HashSet<string>(routes.Select(r => r.Match[(r.Match.LastIndexOf('@') + 1)..]), StringComparer.OrdinalIgnoreCase);
    }

    public IReadOnlyList<InboundRoute> Routes { get; }

    /// <summary>Every domain a route names (an address route's domain too): the domains the MX server looks up here.</summary>
    public IReadOnlySet<string> Domains { get; }

    public bool IsEmpty => Routes.Count == 0;

    /// <summary>The route for <paramref name="localPart"/>@<paramref name="domain"/>, or null.</summary>
    public InboundRoute? Find(string localPart, string domain) =>
        _byAddress.TryGetValue(localPart + "@" + domain, out var exact) ? exact
        : _byDomain.TryGetValue(domain, out var whole) ? whole
        : null;

    /// <summary>The route for a full address (the last @ splits it), or null.</summary>
    public InboundRoute? Find(string address)
    {
        var at = address.LastIndexOf('@');
        return at <= 0 ? null : Find(address[..at], address[(at + 1)..]);
    }
}
