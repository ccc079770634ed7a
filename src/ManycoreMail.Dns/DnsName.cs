using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;

namespace ManycoreMail.Dns;

/// <summary>The one spelling of a domain name that lookups, cache keys and comparisons use.</summary>
public static class DnsName
{
    /// <summary>The longest name in presentation form: 255 wire bytes less the first length byte and the root.</summary>
    public const int MaxLength = 253;

    private const string HexDigits = "0123456789abcdef";

    /// <summary>Lower-cases <paramref name="name"/>, drops one trailing dot and turns internationalised labels into
    /// A-labels ("bücher.example" becomes "xn--bcher-kva.example"). Fails for empty labels, labels longer than 63
    /// characters, names longer than <see cref="MaxLength"/>, and characters no DNS name can hold (controls,
    /// spaces, backslashes).</summary>
    public static bool TryNormalize(string? name, [NotNullWhen(true)] out string? normalized)
    {
        normalized = null;
        if (string.IsNullOrEmpty(name))
        {
            return false;
        }

        var text = name.EndsWith('.') ? name[..^1] : name;
        if (!System.Text.Ascii.IsValid(text))
        {
            try
            {
                // IdnMapping does not case-fold; UTS #46 wants lower case before Punycode.
                text = new IdnMapping().GetAscii(text.ToLowerInvariant());
            }
            catch (ArgumentException)
            {
                return false;
            }
        }

        if (!IsValidAscii(text))
        {
            return false;
        }

        normalized = HasUpperCase(text) ? text.ToLowerInvariant() : text;
        return true;
    }

    /// <summary>The name a PTR lookup of <paramref name="address"/> asks for: "4.3.2.1.in-addr.arpa" for 1.2.3.4,
    /// 32 reversed nibbles then "ip6.arpa" for IPv6 (RFC 3596 §2.5). An IPv4-mapped IPv6 address is asked as IPv4.</summary>
    public static string ReverseLookupName(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        var bytes = address.GetAddressBytes();
        var name = new System.Text.StringBuilder(73);
        if (bytes.Length == 4)
        {
            for (var i = 3; i >= 0; i--)
            {
                name.Append(bytes[i].ToString(CultureInfo.InvariantCulture)).Append('.');
            }

            return name.Append("in-addr.arpa").ToString();
        }

        for (var i = bytes.Length - 1; i >= 0; i--)
        {
            name.Append(HexDigits[bytes[i] & 0xF]).Append('.').Append(HexDigits[bytes[i] >> 4]).Append('.');
        }

        return name.Append("ip6.arpa").ToString();
    }

    private static bool IsValidAscii(string text)
    {
        if (text.Length is 0 or > MaxLength)
        {
            return false;
        }

        var labelLength = 0;
        foreach (var c in text)
        {
            if (c == '.')
            {
                if (labelLength == 0)
                {
                    return false;
                }

                labelLength = 0;
                continue;
            }

            if (c is <= ' ' or >= '\x7F' or '\\' || ++labelLength > 63)
            {
                return false;
            }
        }

        return labelLength > 0;
    }

    private static bool HasUpperCase(string text)
    {
        foreach (var c in text)
        {
            if (c is >= 'A' and <= 'Z')
            {
                return true;
            }
        }

        return false;
    }
}
