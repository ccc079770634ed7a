using System.Diagnostics.CodeAnalysis;

namespace ManycoreMail.Tracking;

/// <summary>
/// The tracker's public URLs (<c>tracking/base-url</c>): <c>{base}/o/{token}.gif</c> for the open pixel,
/// <c>{base}/c/{token}</c> for a click, <c>{base}/u/{token}</c> for unsubscribing; and the way back from a request
/// path to the verified token. Thread-safe.
/// </summary>
/// <remarks>A base URL with a path (<c>https://example.com/t</c>) works both behind a proxy that strips the path
/// and with one that passes it on: <see cref="TryParsePath"/> accepts the path with or without it.</remarks>
public sealed class TrackingUrls
{
    private const string OpenPrefix = "/o/";
    private const string OpenSuffix = ".gif";
    private const string ClickPrefix = "/c/";
    private const string UnsubscribePrefix = "/u/";

    private readonly TrackingTokenCodec _codec;
    private readonly string _basePath;

    /// <summary>Prepare URLs under <paramref name="baseUrl"/>.</summary>
    /// <exception cref="ArgumentException">The base URL is not an absolute http or https URL, or has user
    /// information, a query or a fragment (the token has to be the end of the URL).</exception>
    public TrackingUrls(string baseUrl, TrackingTokenCodec codec)
    {
        ArgumentNullException.ThrowIfNull(baseUrl);
        _codec = codec ?? throw new ArgumentNullException(nameof(codec));
        if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"The tracking base URL \"{baseUrl}\" is not an absolute http or https URL.", nameof(baseUrl));
        }
        if (uri.UserInfo.Length > 0 || uri.Query.Length > 0 || uri.Fragment.Length > 0 || baseUrl.Contains('?') || baseUrl.Contains('#'))
        {
            throw new ArgumentException(
                $"The tracking base URL \"{baseUrl}\" may not have user information, a query or a fragment: the token path goes at its end.",
                nameof(baseUrl));
        }
        // Uri's form: escaped, so it can go into an HTML attribute or a List-Unsubscribe header as it is.
        BaseUrl = uri.GetLeftPart(UriPartial.Path).TrimEnd('/');
        _basePath = uri.AbsolutePath.TrimEnd('/');
    }

    /// <summary>The base URL as written into messages, without a trailing slash.</summary>
    public string BaseUrl { get; }

    /// <summary>The signed URL for <paramref name="token"/>.</summary>
    /// <exception cref="ArgumentException">The token is too long (<see cref="TrackingTokenCodec.Sign"/>).</exception>
    public string For(TrackingToken token) => Compose(token, _codec.Sign(token));

    /// <summary>The signed URL for <paramref name="token"/>; false when the token would be too long, so that a
    /// rewriter can leave such a link as it is.</summary>
    public bool TryFor(TrackingToken token, [NotNullWhen(true)] out string? url)
    {
        url = _codec.TrySign(token, out var signed) ? Compose(token, signed) : null;
        return url is not null;
    }

    /// <summary>The verified token a request path (without query) names; false for any other path, a token that
    /// does not verify, or a token of another kind than its prefix says. Never throws.</summary>
    public bool TryParsePath(ReadOnlySpan<char> path, [NotNullWhen(true)] out TrackingToken? token)
    {
        token = null;
        if (_basePath.Length > 0 && path.StartsWith(_basePath, StringComparison.Ordinal)
            && path[_basePath.Length..].StartsWith('/'))
        {
            path = path[_basePath.Length..];
        }

        TrackingKind kind;
        ReadOnlySpan<char> signed;
        if (path.StartsWith(OpenPrefix, StringComparison.Ordinal) && path.EndsWith(OpenSuffix, StringComparison.Ordinal)
            && path.Length >= OpenPrefix.Length + OpenSuffix.Length)
        {
            kind = TrackingKind.Open;
            signed = path[OpenPrefix.Length..^OpenSuffix.Length];
        }
        else if (path.StartsWith(ClickPrefix, StringComparison.Ordinal))
        {
            kind = TrackingKind.Click;
            signed = path[ClickPrefix.Length..];
        }
        else if (path.StartsWith(UnsubscribePrefix, StringComparison.Ordinal))
        {
            kind = TrackingKind.Unsubscribe;
            signed = path[UnsubscribePrefix.Length..];
        }
        else
        {
            return false;
        }

        // The prefix is not signed: without this check a pixel token pasted under /c/ would be followed as a click.
        if (!_codec.TryVerify(signed, out var verified) || verified.Kind != kind)
        {
            return false;
        }
        token = verified;
        return true;
    }

    private string Compose(TrackingToken token, string signed) => token.Kind switch
    {
        TrackingKind.Open => string.Concat(BaseUrl, OpenPrefix, signed, OpenSuffix),
        TrackingKind.Click => string.Concat(BaseUrl, ClickPrefix, signed),
        _ => string.Concat(BaseUrl, UnsubscribePrefix, signed),
    };
}
