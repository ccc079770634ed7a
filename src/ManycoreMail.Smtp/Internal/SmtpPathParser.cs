using System.Text;

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

    /// <summary>Parses "&lt;path&gt; [params]" after the "FROM:"/"TO:" keyword. Accepts one space
    /// before the path, which many real clients send. A source route ("@a,@b:") is dropped
    /// (RFC 5321 §4.1.1.3). Only ASCII addresses are accepted (SMTPUTF8 is not offered).</summary>
    public static PathParseResult Parse(ReadOnlySpan<byte> args, bool allowNull, out string path, out ReadOnlySpan<byte> parameters)
    {
        path = string.Empty;
        parameters = default;
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

        if (!IsMailbox(address))
        {
            return PathParseResult.BadAddress;
        }

        path = Encoding.ASCII.GetString(address);
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

    private static bool IsLocalPart(ReadOnlySpan<byte> local)
    {
        var quoted = false;
        for (var i = 0; i < local.Length; i++)
        {
            var b = local[i];
            if (b is < 0x20 or >= 0x7F)
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
