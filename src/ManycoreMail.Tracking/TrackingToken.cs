using System.Text;

namespace ManycoreMail.Tracking;

/// <summary>What a tracking token stands for. The values are the token's kind byte: never renumber them.</summary>
public enum TrackingKind : byte
{
    /// <summary>The open pixel.</summary>
    Open = 1,

    /// <summary>A rewritten link; the token carries the original URL.</summary>
    Click = 2,

    /// <summary>The List-Unsubscribe URL.</summary>
    Unsubscribe = 3,
}

/// <summary>
/// What a tracking URL says: which message (uuid), which recipient, what for, for a click the exact original
/// URL, and the message's tenant and campaign when it has them. Made only through <see cref="Open"/>, <see cref="Click"/> and <see cref="Unsubscribe"/>, which check that
/// it can be signed; <see cref="TrackingTokenCodec"/> turns it into the signed string and back.
/// </summary>
/// <remarks>The signed string's byte layout (version, kind, key id, time, uuid, recipient, URL or scope, tenant, campaign, tag) is documented on
/// <see cref="TrackingTokenCodec"/>, next to the code that writes and reads it. Signing is deterministic: the same
/// token always gives the same string, so a message signed twice (a retry) carries the same URLs.</remarks>
public sealed record TrackingToken
{
    /// <summary>Longest message uuid: its length is one byte in the token.</summary>
    public const int MaxUuidLength = 255;

    /// <summary>Longest tenant name, as the send API allows it.</summary>
    public const int MaxTenantLength = 64;

    /// <summary>Longest campaign in UTF-8 bytes: its length is one byte in the token.</summary>
    public const int MaxCampaignBytes = 255;

    private TrackingToken(TrackingKind kind, string messageUuid, string recipient, string? url)
    {
        Kind = kind;
        MessageUuid = messageUuid;
        Recipient = recipient;
        Url = url;
    }

    /// <summary>What the token is for.</summary>
    public TrackingKind Kind { get; }

    /// <summary>The message's uuid: 1 to <see cref="MaxUuidLength"/> characters of [a-z0-9].</summary>
    public string MessageUuid { get; }

    /// <summary>The recipient address, as given (any Unicode).</summary>
    public string Recipient { get; }

    /// <summary>For <see cref="TrackingKind.Click"/> the original URL, character for character; otherwise null.</summary>
    public string? Url { get; }

    /// <summary>For <see cref="TrackingKind.Unsubscribe"/> what the recipient leaves, as the suppression list names it
    /// (<c>global</c>, <c>sender:news@example.com</c>, <c>domain:example.com</c>, <c>tenant:acme</c>); otherwise null.
    /// Signed into the token so that the tracker needs no lookup to know the message's sender or tenant.</summary>
    public string? Scope { get; private init; }

    /// <summary>The message's tenant (its X-Tenant), so that the tracker's events name it without a lookup: 1 to
    /// <see cref="MaxTenantLength"/> characters of [A-Za-z0-9._-], or null. Empty is taken as null.</summary>
    /// <exception cref="ArgumentException">Set to anything else.</exception>
    public string? Tenant
    {
        get;
        init => field = string.IsNullOrEmpty(value) ? null
            : IsValidTenant(value) ? value
            : throw new ArgumentException(
                $"A tenant for tracking is 1 to {MaxTenantLength} characters of [A-Za-z0-9._-]; got \"{value}\".", nameof(Tenant));
    }

    /// <summary>The message's campaign (its X-Stream-Id, else X-Campaign), so that the tracker's events name it:
    /// valid Unicode of at most <see cref="MaxCampaignBytes"/> UTF-8 bytes, or null. Empty is taken as null.</summary>
    /// <exception cref="ArgumentException">Set to anything else; a caller with a longer campaign leaves it out
    /// (see <see cref="IsValidCampaign"/>) rather than cut it into a name that means something else.</exception>
    public string? Campaign
    {
        get;
        init => field = string.IsNullOrEmpty(value) ? null
            : IsValidCampaign(value) ? value
            : throw new ArgumentException(
                $"A campaign for tracking is valid Unicode of at most {MaxCampaignBytes} UTF-8 bytes.", nameof(Campaign));
    }

    /// <summary>When the token was made (whole seconds since the Unix epoch, up to 2106): the tracker tells a scanner
    /// that opens every link seconds after delivery from a person by it. The epoch when not set.</summary>
    public DateTimeOffset IssuedAt
    {
        get;
        init
        {
            var seconds = value.ToUnixTimeSeconds();
            if (seconds is < 0 or > uint.MaxValue)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "A tracking token's time is between 1970 and 2106.");
            }
            field = DateTimeOffset.FromUnixTimeSeconds(seconds);
        }
    } = DateTimeOffset.UnixEpoch;

    /// <summary>An open pixel token.</summary>
    /// <exception cref="ArgumentException">The uuid is not [a-z0-9]+ or too long, or the recipient is empty or
    /// not valid Unicode.</exception>
    public static TrackingToken Open(string messageUuid, string recipient) =>
        new(TrackingKind.Open, CheckUuid(messageUuid), CheckText(recipient, nameof(recipient)), null);

    /// <summary>A click token carrying <paramref name="url"/> exactly (whether it fits in a token is
    /// <see cref="TrackingTokenCodec.TrySign"/>'s question).</summary>
    /// <exception cref="ArgumentException">As for <see cref="Open"/>, or the URL is empty or not valid Unicode.</exception>
    public static TrackingToken Click(string messageUuid, string recipient, string url) =>
        new(TrackingKind.Click, CheckUuid(messageUuid), CheckText(recipient, nameof(recipient)), CheckText(url, nameof(url)));

    /// <summary>An unsubscribe token for leaving <paramref name="scope"/> (see <see cref="Scope"/>).</summary>
    /// <exception cref="ArgumentException">As for <see cref="Open"/>, or the scope is empty or not valid Unicode.</exception>
    public static TrackingToken Unsubscribe(string messageUuid, string recipient, string scope = "global") =>
        new(TrackingKind.Unsubscribe, CheckUuid(messageUuid), CheckText(recipient, nameof(recipient)), null)
        {
            Scope = CheckText(scope, nameof(scope)),
        };

    /// <summary>A token read back from a verified string, whose fields <see cref="TrackingTokenCodec"/> has checked.</summary>
    internal static TrackingToken FromVerified(TrackingKind kind, string messageUuid, string recipient, string? url, string? scope,
        DateTimeOffset issuedAt, string? tenant, string? campaign) =>
        new(kind, messageUuid, recipient, url) { Scope = scope, IssuedAt = issuedAt, Tenant = tenant, Campaign = campaign };

    /// <summary>Whether <paramref name="uuid"/> is a message uuid a token can carry.</summary>
    public static bool IsValidUuid(ReadOnlySpan<char> uuid) =>
        uuid.Length is > 0 and <= MaxUuidLength && !uuid.ContainsAnyExcept(UuidChars);

    /// <summary>Whether <paramref name="tenant"/> is a tenant a token can carry (see <see cref="Tenant"/>).</summary>
    public static bool IsValidTenant(ReadOnlySpan<char> tenant) =>
        tenant.Length is > 0 and <= MaxTenantLength && !tenant.ContainsAnyExcept(TenantChars);

    /// <summary>Whether <paramref name="campaign"/> is a campaign a token can carry (see <see cref="Campaign"/>).</summary>
    public static bool IsValidCampaign(ReadOnlySpan<char> campaign) =>
        // At most 3 UTF-8 bytes per UTF-16 char: a longer string cannot fit, whatever it holds, so count nothing.
        campaign.Length is > 0 and <= MaxCampaignBytes * 3 && Utf16IsValid(campaign)
        && Encoding.UTF8.GetByteCount(campaign) <= MaxCampaignBytes;

    private static string CheckUuid(string uuid)
    {
        ArgumentNullException.ThrowIfNull(uuid);
        if (!IsValidUuid(uuid))
        {
            throw new ArgumentException(
                $"A message uuid for tracking is 1 to {MaxUuidLength} characters of [a-z0-9]; got \"{uuid}\".", nameof(uuid));
        }
        return uuid;
    }

    private static string CheckText(string value, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(value, name);
        // A lone surrogate has no UTF-8 form: encoding would replace it, and the value read back from the token
        // would no longer be the one given.
        if (!Utf16IsValid(value))
        {
            throw new ArgumentException($"The {name} for tracking is not valid Unicode text (a lone surrogate).", name);
        }
        return value;
    }

    private static bool Utf16IsValid(ReadOnlySpan<char> value)
    {
        // Each round moves past one scalar value; a lone surrogate stops it.
        while (!value.IsEmpty)
        {
            if (Rune.DecodeFromUtf16(value, out _, out var consumed) != System.Buffers.OperationStatus.Done)
            {
                return false;
            }
            value = value[consumed..];
        }
        return true;
    }

    private static readonly System.Buffers.SearchValues<char> UuidChars =
        System.Buffers.SearchValues.Create(UuidAlphabet);

    private static readonly System.Buffers.SearchValues<char> TenantChars =
        System.Buffers.SearchValues.Create(TenantAlphabet);

    /// <summary>The characters of a tenant name.</summary>
    internal const string TenantAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

    /// <summary>The characters of a message uuid.</summary>
    internal const string UuidAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
}
