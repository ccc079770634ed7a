using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace ManycoreMail.Smtp.Internal;

internal enum PathParseResult
{
    Ok,
    /// <summary>No "&lt;...&gt;" where a path belongs.</summary>
    Syntax,
    /// <summary>The path is there but the address in it is not a valid mailbox.</summary>
    BadAddress,
}

/// <summary>Parses the arguments of MAIL FROM: and RCPT TO: (RFC 5321 §4.1.2) from bytes.</summary>
internal static class SmtpPathParser
{
    private const int MaxLocalPart = 64;
    private const int MaxDomain = 255;

    // Shared and immutable once configured: GetAscii is thread-safe.
    private static readonly IdnMapping Idn = new() { UseStd3AsciiRules = true };

    /// <summary>Parses "&lt;path&gt; [params]" after the "FROM:"/"TO:" keyword. Accepts one space
    /// before the path, which many real clients send. A source route ("@a,@b:") is dropped
    /// (RFC 5321 §4.1.1.3). A UTF-8 address (RFC 6531) parses with <paramref name="utf8"/> set; the caller
    /// refuses it unless the transaction declared SMTPUTF8. An internationalised domain comes back as its
    /// A-label form (IDNA, lower case), so every comparison and DNS lookup downstream sees one spelling;
    /// the local part is kept exactly as sent (only its owner may interpret it).</summary>
    public static PathParseResult Parse(ReadOnlySpan<byte> args, bool allowNull, out string path, out ReadOnlySpan<byte> parameters, out bool utf8)
    {
        path = string.Empty;
        parameters = default;
        utf8 = false;
        args = args.TrimStart((byte)' ');
        if (args.IsEmpty || args[0] != (byte)'<')
        {
            return PathParseResult.Syntax;
        }

        var close = FindClosingBracket(args);
        if (close < 0)
        {
            return PathParseResult.Syntax;
        }

        var rest = args[(close + 1)..];
        if (!rest.IsEmpty && rest[0] != (byte)' ')
        {
            return PathParseResult.Syntax;
        }

        parameters = rest.Trim((byte)' ');
        var address = args[1..close];
        if (!address.IsEmpty && address[0] == (byte)'@')
        {
            var colon = address.IndexOf((byte)':');
            if (colon < 0)
            {
                return PathParseResult.BadAddress;
            }

            address = address[(colon + 1)..];
        }

        if (address.IsEmpty)
        {
            return allowNull ? PathParseResult.Ok : PathParseResult.BadAddress;
        }

        if (address.ContainsAnyExceptInRange((byte)0, (byte)0x7F))
        {
            utf8 = true;
            return ParseUtf8(address, out path);
        }

        if (!IsMailbox(address))
        {
            return PathParseResult.BadAddress;
        }

        path = Encoding.ASCII.GetString(address);
        return PathParseResult.Ok;
    }

    private static PathParseResult ParseUtf8(ReadOnlySpan<byte> address, out string path)
    {
        path = string.Empty;
        // Non-ASCII must be well-formed UTF-8 without C1 controls; no overlong forms (Utf8.IsValid refuses them).
        if (!Utf8.IsValid(address))
        {
            return PathParseResult.BadAddress;
        }

        var at = address.LastIndexOf((byte)'@');
        if (at <= 0 || at == address.Length - 1)
        {
            return PathParseResult.BadAddress;
        }

        var local = address[..at];
        var domain = address[(at + 1)..];
        if (local.Length > MaxLocalPart || !IsLocalPart(local, allowUtf8: true))
        {
            return PathParseResult.BadAddress;
        }

        string asciiDomain;
        if (domain.ContainsAnyExceptInRange((byte)0, (byte)0x7F))
        {
            if (domain[0] == (byte)'[')
            {
                return PathParseResult.BadAddress;
            }

            try
            {
                // IDNA2008-ish via UTS #46 mapping: case folding and NFC happen here, and fullwidth dots become dots.
                asciiDomain = Idn.GetAscii(Encoding.UTF8.GetString(domain)).ToLowerInvariant();
            }
            catch (ArgumentException)
            {
                return PathParseResult.BadAddress;
            }
        }
        else
        {
            asciiDomain = Encoding.ASCII.GetString(domain);
        }

        if (asciiDomain.Length is 0 or > MaxDomain || !IsDomain(Encoding.ASCII.GetBytes(asciiDomain)))
        {
            return PathParseResult.BadAddress;
        }

        path = string.Concat(Encoding.UTF8.GetString(local), "@", asciiDomain);
        return PathParseResult.Ok;
    }

    /// <summary>RFC 5321 §4.1.1.3: "postmaster" without a domain is a valid recipient.</summary>
    public static bool IsPostmaster(string path) => path.Equals("postmaster", StringComparison.OrdinalIgnoreCase);

    private static int FindClosingBracket(ReadOnlySpan<byte> args)
    {
        var quoted = false;
        for (var i = 1; i < args.Length; i++)
        {
            var b = args[i];
            if (quoted && b == (byte)'\\')
            {
                i++;
            }
            else if (b == (byte)'"')
            {
                quoted = !quoted;
            }
            else if (!quoted && b == (byte)'>')
            {
                return i;
            }
        }

        return -1;
    }

    private static bool IsMailbox(ReadOnlySpan<byte> address)
    {
        var at = address.LastIndexOf((byte)'@');
        if (at < 0)
        {
            return address.Length <= MaxLocalPart && IsLocalPart(address);
        }

        var local = address[..at];
        var domain = address[(at + 1)..];
        return local.Length is > 0 and <= MaxLocalPart
            && domain.Length is > 0 and <= MaxDomain
            && IsLocalPart(local)
            && IsDomain(domain);
    }

    private static bool IsLocalPart(ReadOnlySpan<byte> local, bool allowUtf8 = false)
    {
        var quoted = false;
        for (var i = 0; i < local.Length; i++)
        {
            var b = local[i];
            if (b is < 0x20 or 0x7F || (b > 0x7F && !allowUtf8))
            {
                return false;
            }

            if (quoted && b == (byte)'\\')
            {
                i++;
                continue;
            }

            if (b == (byte)'"')
            {
                quoted = !quoted;
            }
            else if (!quoted && (b == (byte)' ' || b == (byte)'<' || b == (byte)'>'))
            {
                return false;
            }
        }

        return !quoted;
    }

    private static bool IsDomain(ReadOnlySpan<byte> domain)
    {
        if (domain[0] == (byte)'[')
        {
            // Address literal: printable, bracketed.
            return domain.Length > 2 && domain[^1] == (byte)']' && !domain[1..^1].ContainsAnyExceptInRange((byte)0x21, (byte)0x7E);
        }

        foreach (var b in domain)
        {
            var ok = b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9')
                or (byte)'-' or (byte)'.' or (byte)'_';
            if (!ok)
            {
                return false;
            }
        }

        return domain[0] != (byte)'.' && domain[^1] != (byte)'.' && domain.IndexOf(".."u8) < 0;
    }
}
