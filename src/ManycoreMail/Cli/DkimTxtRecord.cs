using System.Security.Cryptography;
using System.Text;
using ManycoreMail.Dkim;

namespace ManycoreMail.Cli;

/// <summary>The DKIM key record (RFC 6376 §3.6.1) a domain publishes for a private key, as a zone-file line.</summary>
internal static class DkimTxtRecord
{
    /// <summary>RFC 1035: one character-string holds at most 255 octets; longer TXT data is several strings.</summary>
    public const int MaxStringLength = 255;

    public static string Name(string selector, string domain) => $"{selector}._domainkey.{domain.TrimEnd('.')}";

    /// <summary>The TXT data: <c>v=DKIM1; k=rsa; p=</c> and the SubjectPublicKeyInfo in base64.</summary>
    public static string Value(RSA key) => "v=DKIM1; k=rsa; p=" + Convert.ToBase64String(key.ExportSubjectPublicKeyInfo());

    /// <summary><c>S._domainkey.DOMAIN. IN TXT "..." "..."</c>, the data split into strings of at most 255 characters.</summary>
    public static string ZoneLine(string selector, string domain, RSA key) => ZoneLine(selector, domain, Value(key));

    /// <summary>The zone-file line publishing any key's record (k=rsa or k=ed25519).</summary>
    public static string ZoneLine(DkimSigningKey key) => ZoneLine(key.Selector, key.Domain, key.PublicKeyRecord());

    private static string ZoneLine(string selector, string domain, string value)
    {
        var line = new StringBuilder(Name(selector, domain)).Append(". IN TXT");
        for (var start = 0; start < value.Length; start += MaxStringLength)
        {
            line.Append(" \"").Append(value.AsSpan(start, Math.Min(MaxStringLength, value.Length - start))).Append('"');
        }
        return line.ToString();
    }
}
