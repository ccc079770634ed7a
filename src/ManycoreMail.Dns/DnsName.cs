using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace ManycoreMail.Dns;

/// <summary>The one spelling of a domain name that lookups, cache keys and comparisons use.</summary>
public static class DnsName
{
    /// <summary>The longest name in presentation form: 255 wire bytes less the first length byte and the root.</summary>
    public const int MaxLength = 253;

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
