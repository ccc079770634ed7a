using System.Text;
using ManycoreMail.Smtp.Server;

namespace ManycoreMail.Smtp.Internal;

/// <summary>The values of the RFC 3461 parameters, parsed from bytes.</summary>
internal static class DsnParameters
{
    /// <summary>RFC 3461 §4.4: ENVID is at most 100 characters (encoded).</summary>
    public const int MaxEnvelopeId = 100;
    /// <summary>RFC 3461 §4.2: ORCPT is at most 500 characters (encoded).</summary>
    public const int MaxOriginalRecipient = 500;

    /// <summary>NOTIFY=NEVER, or a comma list of SUCCESS, FAILURE, DELAY.</summary>
    public static bool TryParseNotify(ReadOnlySpan<byte> value, out DsnNotify notify)
    {
        notify = DsnNotify.Unspecified;
        if (value.IsEmpty)
        {
            return false;
        }

        // Bounded by the value: each pass consumes one keyword.
        while (true)
        {
            var comma = value.IndexOf((byte)',');
            var keyword = comma < 0 ? value : value[..comma];
            DsnNotify flag;
            if (Ascii.EqualsIgnoreCase(keyword, "NEVER"u8)) flag = DsnNotify.Never;
            else if (Ascii.EqualsIgnoreCase(keyword, "SUCCESS"u8)) flag = DsnNotify.Success;
            else if (Ascii.EqualsIgnoreCase(keyword, "FAILURE"u8)) flag = DsnNotify.Failure;
            else if (Ascii.EqualsIgnoreCase(keyword, "DELAY"u8)) flag = DsnNotify.Delay;
            else return false;

            notify |= flag;
            if (comma < 0)
            {
                break;
            }

            value = value[(comma + 1)..];
        }

        // NEVER must stand alone (§4.1).
        return notify == DsnNotify.Never || !notify.HasFlag(DsnNotify.Never);
    }

    /// <summary>ORCPT=addr-type;xtext (§4.2).</summary>
    public static bool TryParseOriginalRecipient(ReadOnlySpan<byte> value, out string type, out string address)
    {
        type = string.Empty;
        address = string.Empty;
        var semicolon = value.IndexOf((byte)';');
        if (value.Length > MaxOriginalRecipient || semicolon <= 0)
        {
            return false;
        }

        var typeBytes = value[..semicolon];
        foreach (var b in typeBytes)
        {
            // addr-type is an atom; in practice "rfc822" or "utf-8".
            if (!(char.IsAsciiLetterOrDigit((char)b) || b == (byte)'-'))
            {
                return false;
            }
        }

        if (!TryDecodeXtext(value[(semicolon + 1)..], out address) || address.Length == 0)
        {
            return false;
        }

        type = Encoding.ASCII.GetString(typeBytes);
        return true;
    }

    /// <summary>RFC 3461 §4: xtext is printable ASCII but "+" and "=", with "+HH" for any other octet. The
    /// decoded value must be printable ASCII too (we hand it on, and it ends up in headers).</summary>
    public static bool TryDecodeXtext(ReadOnlySpan<byte> xtext, out string value)
    {
        value = string.Empty;
        Span<byte> decoded = stackalloc byte[MaxOriginalRecipient];
        var length = 0;
        for (var i = 0; i < xtext.Length; i++)
        {
            var b = xtext[i];
            if (b is < 0x21 or > 0x7E or (byte)'=')
            {
                return false;
            }

            if (b == (byte)'+')
            {
                if (i + 2 >= xtext.Length)
                {
                    return false;
                }

                var high = HexValue(xtext[i + 1]);
                var low = HexValue(xtext[i + 2]);
                if (high < 0 || low < 0)
                {
                    return false;
                }

                b = (byte)((high << 4) | low);
                i += 2;
                if (b is < 0x20 or > 0x7E)
                {
                    return false;
                }
            }

            if (length == decoded.Length)
            {
                return false;
            }

            decoded[length++] = b;
        }

        value = Encoding.ASCII.GetString(decoded[..length]);
        return true;
    }

    /// <summary>RFC 3461 says upper-case hex; lower case is accepted, being unambiguous.</summary>
    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        _ => -1,
    };
}
