using System.Net;
using ManycoreMail.Suppression;
using ManycoreMail.Tracking;

namespace ManycoreMail.Config;

/// <summary>The <c>tracking</c> section: the tracker role's listener, the public address written into messages, the
/// signing secrets, and what is tracked. Present only when the section is; then the transformer signs and sends a
/// message per recipient.</summary>
internal sealed record TrackingOptions
{
    /// <summary>The tracker's own HTTP listener (<c>tracking/bind</c>).</summary>
    public required IPEndPoint Bind { get; init; }

    /// <summary>The public base URL (<c>tracking/base-url</c>), as given.</summary>
    public required string BaseUrl { get; init; }

    /// <summary>The secrets (<c>tracking/secrets</c>): the first signs, all verify. Never logged.</summary>
    public required IReadOnlyList<string> Secrets { get; init; }

    public bool Opens { get; init; } = true;

    public bool Clicks { get; init; } = true;

    /// <summary>List-Unsubscribe (RFC 8058 one-click) and <c>{{unsubscribe_url}}</c> in every message.</summary>
    public bool Unsubscribe { get; init; } = true;

    /// <summary>What an unsubscribe leaves (<c>tracking/unsubscribe-scope</c>): the From address by default.</summary>
    public SuppressionScope UnsubscribeScope { get; init; } = SuppressionScope.Sender;

    /// <summary>Bare http(s) URLs in text/plain parts are tracked too (<c>tracking/track-text-links</c>).</summary>
    public bool TrackTextLinks { get; init; }

    /// <summary>Proxies in front of the tracker whose <c>X-Forwarded-For</c> is believed (<c>tracking/trusted-proxies</c>).</summary>
    public IReadOnlyList<IPNetwork> TrustedProxies { get; init; } = [];

    /// <summary>The tokens' codec and URLs, built from <see cref="Secrets"/> and <see cref="BaseUrl"/> (validated
    /// when the configuration was read, so this does not throw).</summary>
    public TrackingUrls CreateUrls() => new(BaseUrl, new TrackingTokenCodec(new TrackingKeys(Secrets)));
}

/// <summary>The <c>suppression</c> section: which reports add entries by themselves.</summary>
internal sealed record SuppressionOptions
{
    /// <summary><c>suppression/auto</c>: unsubscribe, complaint, bounce (all three by default). Manual entries are
    /// always possible.</summary>
    public IReadOnlySet<SuppressionReason> Auto { get; init; } =
        new HashSet<SuppressionReason> { SuppressionReason.Unsubscribe, SuppressionReason.Complaint, SuppressionReason.Bounce };

    public bool Adds(SuppressionReason reason) => Auto.Contains(reason);

    /// <summary>The embedded suppression list, beside the spool in <c>storage/path</c>.</summary>
    public const string SqliteFileName = "suppressions.db";

    public static string SqlitePath(StorageOptions storage) => System.IO.Path.Combine(storage.Path, SqliteFileName);
}
