using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace ManycoreMail.Roles.Tracker;

/// <summary>The Location header a click answers with: the token's URL as it was in the message, with only what an
/// HTTP header cannot carry percent-encoded.</summary>
internal static class RedirectLocation
{
    /// <summary>The header value for <paramref name="url"/>; false unless it is an absolute http or https URL with
    /// a host (a <c>javascript:</c> or <c>data:</c> URL, or anything else a browser would not fetch, is never a target).</summary>
    /// <remarks>Every character outside printable ASCII (controls, space, DEL, anything non-ASCII) becomes the
    /// percent-encoding of its UTF-8 bytes: the mapping from IRI to URI of RFC 3987 §3.1, which is what a browser
    /// does itself when it follows such a link, and what keeps a CR or LF out of the header. Everything else,
    /// existing percent-encodings, query and fragment included, goes through character for character.</remarks>
    public static bool TryCreate(string url, [NotNullWhen(true)] out string? location)
    {
        location = null;
        var rest = url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) ? url.AsSpan("http://".Length)
            : url.StartsWith("https://", StringComparison.OrdinalIgnoreCase) ? url.AsSpan("https://".Length)
            : [];
        if (rest.IsEmpty || !HasHost(rest))
        {
            return false;
        }
        location = Encode(url);
        return true;
    }

    /// <summary>Whether the authority (up to the path, query or fragment; a browser takes a backslash for a slash)
    /// names a host: not empty once user information and port are taken off.</summary>
    private static bool HasHost(ReadOnlySpan<char> rest)
    {
        var end = rest.IndexOfAny(@"/?#\");
        var authority = end < 0 ? rest : rest[..end];
        var host = authority[(authority.LastIndexOf('@') + 1)..];
        if (!host.StartsWith('['))
        {
            var colon = host.LastIndexOf(':');
            host = colon < 0 ? host : host[..colon];
        }
        return !host.Trim().IsEmpty;
    }

    private static string Encode(string url)
    {
        if (!url.AsSpan().ContainsAnyExceptInRange('!', '~'))
        {
            return url;
        }
        var builder = new StringBuilder(url.Length + 16);
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < url.Length; i += char.IsSurrogatePair(url, i) ? 2 : 1)
        {
            var c = url[i];
            if (c is >= '!' and <= '~')
            {
                builder.Append(c);
                continue;
            }
            // The token's URL is valid UTF-16 (TrackingToken checked it), so every rune decodes.
            var rune = Rune.GetRuneAt(url, i);
            var length = rune.EncodeToUtf8(utf8);
            foreach (var b in utf8[..length])
            {
                builder.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        return builder.ToString();
    }
}
