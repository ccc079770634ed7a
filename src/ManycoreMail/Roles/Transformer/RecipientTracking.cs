using ManycoreMail.Config;
using ManycoreMail.Suppression;
using ManycoreMail.Tracking;

namespace ManycoreMail.Roles.Transformer;

/// <summary>One recipient's copy of a message, as its tokens name it: the tracker is stateless, so the tenant and the
/// campaign its events carry are the ones signed here.</summary>
internal readonly record struct TrackedCopy(string Uuid, string Recipient, string? Tenant, string? Campaign, DateTimeOffset Now);

/// <summary>What the <c>tracking</c> section writes into one recipient's copy of a message: the open pixel, the
/// click URLs and the unsubscribe URL, each a signed token naming the message and the recipient.</summary>
/// <remarks>Tokens are signed deterministically, so a message transformed again (a retry after a lost lease)
/// carries the same URLs as long as the clock gives the same second.</remarks>
internal sealed class RecipientTracking
{
    /// <summary>The placeholder a sender puts in a body where the recipient's unsubscribe URL belongs.</summary>
    public const string UnsubscribePlaceholder = "unsubscribe_url";

    private readonly TrackingOptions _options;
    private readonly TrackingUrls _urls;
    // Links already on the tracker (the unsubscribe URL a sender wrote out) are not wrapped in a click.
    private readonly string _trackerPrefix;

    public RecipientTracking(TrackingOptions options)
    {
        _options = options;
        _urls = options.CreateUrls();
        _trackerPrefix = _urls.BaseUrl + "/";
    }

    public bool Opens => _options.Opens;

    public bool Clicks => _options.Clicks;

    public bool Unsubscribe => _options.Unsubscribe;

    public bool TrackTextLinks => _options.TrackTextLinks;

    /// <summary>The scope an unsubscribe from this sender leaves, as tokens carry it (<c>sender:news@example.com</c>);
    /// the tenant scope without a tenant falls back to the domain.</summary>
    public string ScopeFor(SendingContext sender)
    {
        var scope = _options.UnsubscribeScope;
        if (sender.ValueFor(scope) is not { } value)
        {
            scope = SuppressionScope.Domain;
            value = sender.Domain;
        }
        return SuppressionNames.Format(scope, value);
    }

    /// <summary>The open pixel for <paramref name="copy"/>.</summary>
    public string PixelHtml(TrackedCopy copy) =>
        $"<img width=\"1\" height=\"1\" alt=\"\" border=\"0\" src=\"{_urls.For(Stamp(TrackingToken.Open(copy.Uuid, copy.Recipient), copy))}\">";

    /// <summary>The unsubscribe URL for <paramref name="copy"/>'s recipient leaving <paramref name="scope"/>.</summary>
    public string UnsubscribeUrl(TrackedCopy copy, string scope) =>
        _urls.For(Stamp(TrackingToken.Unsubscribe(copy.Uuid, copy.Recipient, scope), copy));

    /// <summary>The click URL replacing <paramref name="url"/>, or null to leave the link as it is: the
    /// unsubscribe URL itself, a URL already on the tracker, one too long for a token, or one a token cannot carry
    /// exactly (a lone surrogate from a character reference such as &amp;#xD800;: a browser would not follow it as
    /// written either, and the message must still go out).</summary>
    public string? ClickUrl(TrackedCopy copy, string url)
    {
        if (url.StartsWith(_trackerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        TrackingToken token;
        try
        {
            token = Stamp(TrackingToken.Click(copy.Uuid, copy.Recipient, url), copy);
        }
        catch (ArgumentException)
        {
            return null;
        }
        return _urls.TryFor(token, out var click) ? click : null;
    }

    /// <summary>The copy's time, tenant and campaign on <paramref name="token"/>. A tenant or campaign a token cannot
    /// carry (an X-Tenant outside [A-Za-z0-9._-], a campaign over 255 bytes) is left out rather than cut: the
    /// message still goes out, and its events lack only that name.</summary>
    private static TrackingToken Stamp(TrackingToken token, TrackedCopy copy) => token with
    {
        IssuedAt = copy.Now,
        Tenant = copy.Tenant is { } tenant && TrackingToken.IsValidTenant(tenant) ? tenant : null,
        Campaign = copy.Campaign is { } campaign && TrackingToken.IsValidCampaign(campaign) ? campaign : null,
    };
}
