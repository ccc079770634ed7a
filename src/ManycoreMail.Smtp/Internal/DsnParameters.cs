using System.Text;
using System.Text.Unicode;
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

    /// <summary>RFC 3461 §4: xtext of <paramref name="value"/>, "+HH" (upper case) for "+", "=", controls, space and
    /// anything outside ASCII (as its UTF-8 octets).</summary>
    public static string EncodeXtext(string value)
    {
        var text = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            if (b is < 0x21 or > 0x7E or (byte)'+' or (byte)'=')
            {
                text.Append('+').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                text.Append((char)b);
            }
        }

        return text.ToString();
    }

    /// <summary>RFC 6533 §3: utf-8-addr-xtext, or utf-8-addr-unitext when <paramref name="allowUtf8"/> (an SMTPUTF8
    /// transaction): printable ASCII but "+", "=" and "\", raw UTF-8 (unitext only), and "\x{HEX}" for any Unicode scalar
    /// value. The decoded address may hold no control characters.</summary>
    public static bool TryDecodeUtf8Address(ReadOnlySpan<byte> encoded, bool allowUtf8, out string value)
    {
        value = string.Empty;
        if (encoded.IsEmpty || !Utf8.IsValid(encoded) || (!allowUtf8 && encoded.ContainsAnyExceptInRange((byte)0, (byte)0x7F)))
        {
            return false;
        }

        var text = new StringBuilder(encoded.Length);
        var rest = Encoding.UTF8.GetString(encoded).AsSpan();
        // Bounded by the text: each pass consumes one character or one escape.
        while (!rest.IsEmpty)
        {
            var c = rest[0];
            if (c == '\\')
            {
                var close = rest.IndexOf('}');
                if (!rest.StartsWith("\\x{") || close < 5 || close > 9
                    || !int.TryParse(rest[3..close], System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out var scalar)
                    || !Rune.TryCreate(scalar, out var rune) || Rune.IsControl(rune))
                {
                    return false;
                }

                text.Append(rune.ToString());
                rest = rest[(close + 1)..];
                continue;
            }

            if (c is < '!' or '+' or '=' or (char)0x7F || char.IsControl(c))
            {
                return false;
            }

            text.Append(c);
            rest = rest[1..];
        }

        value = text.ToString();
        return true;
    }

    /// <summary>The ORCPT value for <paramref name="type"/> and <paramref name="address"/>: RFC 6533 utf-8-addr-xtext
    /// for "utf-8" (every character outside printable ASCII, and "+", "=", "\", as \x{HEX}), RFC 3461 xtext otherwise.</summary>
    public static string EncodeOriginalRecipient(string type, string address)
    {
        if (!string.Equals(type, "utf-8", StringComparison.OrdinalIgnoreCase))
        {
            return type + ";" + EncodeXtext(address);
        }

        var text = new StringBuilder(type.Length + 1 + address.Length).Append(type).Append(';');
        foreach (var rune in address.EnumerateRunes())
        {
            if (rune.Value is < 0x21 or > 0x7E or '+' or '=' or '\\')
            {
                text.Append("\\x{").Append(rune.Value.ToString("X", System.Globalization.CultureInfo.InvariantCulture)).Append('}');
            }
            else
            {
                text.Append((char)rune.Value);
            }
        }

        return text.ToString();
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
