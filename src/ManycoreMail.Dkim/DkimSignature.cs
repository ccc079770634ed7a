using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace ManycoreMail.Dkim;

public enum DkimAlgorithm
{
    RsaSha256,
    /// <summary>Verified, but reported as <see cref="DkimResult.Policy"/> (RFC 8301 §3.1).</summary>
    RsaSha1,
    /// <summary>RFC 8463.</summary>
    Ed25519Sha256,
}

/// <summary>The tags of one DKIM-Signature field (RFC 6376 §3.5), checked as §6.1.1 asks.</summary>
public sealed record DkimSignature(
    DkimAlgorithm Algorithm,
    string AlgorithmName,
    byte[] Signature,
    byte[] BodyHash,
    bool RelaxedHeader,
    bool RelaxedBody,
    string Domain,
    string Selector,
    IReadOnlyList<string> SignedHeaders,
    string Identity,
    long? BodyLength,
    long? Timestamp,
    long? Expiration)
{
    /// <summary>Parse a DKIM-Signature field's value. Unknown tags are ignored (§3.2). On failure
    /// <paramref name="domain"/> and <paramref name="selector"/> still carry d= and s= when they could be read.</summary>
    public static bool TryParse(
        string value,
        [NotNullWhen(true)] out DkimSignature? signature,
        [NotNullWhen(false)] out string? error,
        out string? domain,
        out string? selector)
    {
        signature = null;
        domain = null;
        selector = null;
        if (!DkimTagList.TryParse(value, out var tags, out error))
        {
            return false;
        }
        domain = tags.GetValueOrDefault("d");
        selector = tags.GetValueOrDefault("s");
        foreach (var required in (string[])["v", "a", "b", "bh", "d", "s", "h"])
        {
            if (!tags.ContainsKey(required))
            {
                error = $"required tag {required}= is missing";
                return false;
            }
        }
        if (tags["v"] != "1")
        {
            error = $"unsupported version v={tags["v"]}";
            return false;
        }
        var algorithmName = tags["a"];
        DkimAlgorithm algorithm;
        switch (algorithmName)
        {
            case "rsa-sha256": algorithm = DkimAlgorithm.RsaSha256; break;
            case "rsa-sha1": algorithm = DkimAlgorithm.RsaSha1; break;
            case "ed25519-sha256": algorithm = DkimAlgorithm.Ed25519Sha256; break;
            default:
                error = $"unsupported algorithm a={algorithmName}";
                return false;
        }
        if (!TryBase64(tags["b"], out var signatureBytes) || signatureBytes.Length == 0)
        {
            error = "b= is not valid base64";
            return false;
        }
        if (!TryBase64(tags["bh"], out var bodyHash) || bodyHash.Length == 0)
        {
            error = "bh= is not valid base64";
            return false;
        }
        if (!IsDomainName(domain!))
        {
            error = $"d={domain} is not a domain name";
            return false;
        }
        if (!IsDomainName(selector!))
        {
            error = $"s={selector} is not a valid selector";
            return false;
        }
        var relaxedHeader = false;
        var relaxedBody = false;
        if (tags.TryGetValue("c", out var canonicalization))
        {
            var parts = canonicalization.Split('/');
            if (parts.Length > 2 || !TryCanonicalization(parts[0], out relaxedHeader)
                || (parts.Length == 2 && !TryCanonicalization(parts[1], out relaxedBody)))
            {
                error = $"unsupported canonicalization c={canonicalization}";
                return false;
            }
        }
        var headers = tags["h"].Split(':').Select(h => h.Trim(' ', '\t', '\r', '\n')).ToArray();
        if (headers.Any(h => h.Length == 0 || h.Any(c => c is <= ' ' or >= (char)127)))
        {
            error = "h= holds an empty or invalid header name";
            return false;
        }
        if (!headers.Any(h => h.Equals("From", StringComparison.OrdinalIgnoreCase)))
        {
            error = "h= does not include From (RFC 6376 §5.4)";
            return false;
        }
        var identity = tags.GetValueOrDefault("i") ?? "@" + domain;
        var at = identity.LastIndexOf('@');
        var identityDomain = at < 0 ? null : identity[(at + 1)..];
        if (identityDomain is null || !(identityDomain.Equals(domain, StringComparison.OrdinalIgnoreCase)
            || identityDomain.EndsWith("." + domain, StringComparison.OrdinalIgnoreCase)))
        {
            error = $"i={identity} is not in d={domain} or a subdomain of it";
            return false;
        }
        if (tags.TryGetValue("q", out var query) && !query.Split(':').Any(q => q.Trim().Equals("dns/txt", StringComparison.Ordinal)))
        {
            error = $"unsupported query method q={query}";
            return false;
        }
        long? bodyLength = null, timestamp = null, expiration = null;
        if (!TryNumber(tags, "l", ref bodyLength, out error)
            || !TryNumber(tags, "t", ref timestamp, out error)
            || !TryNumber(tags, "x", ref expiration, out error))
        {
            return false;
        }
        if (timestamp is not null && expiration is not null && expiration < timestamp)
        {
            error = "x= is before t=";
            return false;
        }
        signature = new DkimSignature(algorithm, algorithmName, signatureBytes, bodyHash, relaxedHeader, relaxedBody,
            domain!, selector!, headers, identity, bodyLength, timestamp, expiration);
        return true;
    }

    /// <summary>Base64 with FWS anywhere in it, as §3.5 allows for b=, bh= and p=.</summary>
    internal static bool TryBase64(string value, out byte[] bytes)
    {
        var text = DkimTagList.RemoveWhitespace(value);
        var buffer = new byte[text.Length * 3 / 4 + 3];
        if (Convert.TryFromBase64String(text, buffer, out var written))
        {
            bytes = buffer[..written];
            return true;
        }
        bytes = [];
        return false;
    }

    private static bool TryCanonicalization(string name, out bool relaxed)
    {
        relaxed = name == "relaxed";
        return name is "relaxed" or "simple";
    }

    private static bool TryNumber(IReadOnlyDictionary<string, string> tags, string name, ref long? number, [NotNullWhen(false)] out string? error)
    {
        error = null;
        if (!tags.TryGetValue(name, out var text))
        {
            return true;
        }
        // At most 76 bits by the ABNF; 12 digits are more than enough for lengths and times.
        if (text.Length is 0 or > 12 || !text.All(char.IsAsciiDigit))
        {
            error = $"{name}={text} is not a decimal number";
            return false;
        }
        number = long.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
        return true;
    }

    /// <summary>Labels of letters, digits, '-' and '_' (selectors and DKIM domains may use '_'), so that the key
    /// query name is well-formed before it reaches DNS.</summary>
    private static bool IsDomainName(string name) =>
        name.Length is > 0 and <= 253
        && name.Split('.').All(label => label.Length is > 0 and <= 63
            && label.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'));
}
