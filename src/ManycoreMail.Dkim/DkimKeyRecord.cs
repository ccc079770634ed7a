using System.Diagnostics.CodeAnalysis;

namespace ManycoreMail.Dkim;

/// <summary>A DKIM key record (RFC 6376 §3.6.1): TXT at selector._domainkey.domain.</summary>
/// <param name="KeyType">k=: "rsa" (the default) or "ed25519".</param>
/// <param name="PublicKey">p= decoded: SubjectPublicKeyInfo (or PKCS#1) for RSA, the raw 32 bytes for Ed25519.</param>
/// <param name="Hashes">h=: acceptable hash algorithms, or null when any is.</param>
/// <param name="Testing">t=y.</param>
/// <param name="StrictIdentity">t=s: i= must be in exactly d=, not a subdomain.</param>
public sealed record DkimKeyRecord(string KeyType, byte[] PublicKey, IReadOnlyList<string>? Hashes, bool Testing, bool StrictIdentity)
{
    public static bool TryParse(string text, [NotNullWhen(true)] out DkimKeyRecord? record, [NotNullWhen(false)] out string? error)
    {
        record = null;
        if (!DkimTagList.TryParse(text, out var tags, out error))
        {
            return false;
        }
        if (tags.TryGetValue("v", out var version) && (version != "DKIM1" || !text.TrimStart(' ', '\t').StartsWith("v", StringComparison.Ordinal)))
        {
            error = $"key record version v={version} is not DKIM1 at the start of the record";
            return false;
        }
        if (!tags.TryGetValue("p", out var publicKey))
        {
            error = "key record has no p= tag";
            return false;
        }
        if (DkimTagList.RemoveWhitespace(publicKey).Length == 0)
        {
            error = "key revoked (empty p=)";
            return false;
        }
        if (!DkimSignature.TryBase64(publicKey, out var keyBytes))
        {
            error = "key record p= is not valid base64";
            return false;
        }
        if (tags.TryGetValue("s", out var services)
            && !services.Split(':').Select(s => s.Trim()).Any(s => s is "*" or "email"))
        {
            error = $"key record is not for email (s={services})";
            return false;
        }
        var flags = tags.TryGetValue("t", out var t) ? t.Split(':').Select(f => f.Trim()).ToArray() : [];
        var hashes = tags.TryGetValue("h", out var h) ? h.Split(':').Select(x => x.Trim()).ToArray() : null;
        record = new DkimKeyRecord(tags.GetValueOrDefault("k") ?? "rsa", keyBytes, hashes, flags.Contains("y"), flags.Contains("s"));
        return true;
    }
}
