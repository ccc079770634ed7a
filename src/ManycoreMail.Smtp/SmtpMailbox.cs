using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace ManycoreMail.Smtp;

/// <summary>
/// Writes a mailbox the way RFC 5321 §4.1.2 puts it in MAIL FROM and RCPT TO, and says when it cannot be written
/// at all. The input is an address as header parsing gives it (RFC 5322: a local part of atoms, dots and quoted
/// strings, "@", a domain); the output's local part is a Dot-string when its content allows, otherwise one
/// Quoted-string with '"' and '\' escaped, so <c>"x&gt;y"@example.net</c> and <c>"a b".c@example.net</c> are both
/// sent as one valid path.
/// </summary>
/// <remarks>What SMTP cannot carry without SMTPUTF8 (which this client does not speak): control characters, CR,
/// LF, NUL, TAB and non-ASCII anywhere; a local part over 64 octets, a domain over 255, a path over 256 (RFC 5321
/// §4.5.3.1). The receivers refuse such recipients at the door with this same rule.</remarks>
public static class SmtpMailbox
{
    public const int MaxLocalPart = 64;
    public const int MaxDomain = 255;
    /// <summary>Including the angle brackets.</summary>
    public const int MaxPath = 256;

    private const string AtomSpecials = "()<>[]:;@\\,.\" ";

    private static readonly SearchValues<char> HostChars =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");

    /// <summary>The RFC 5321 form of <paramref name="address"/>, or why it has none.</summary>
    public static bool TryFormat(string address, [NotNullWhen(true)] out string? path, [NotNullWhen(false)] out string? problem)
    {
        ArgumentNullException.ThrowIfNull(address);
        path = null;
        if (FirstUnwritable(address) is { } bad)
        {
            problem = bad;
            return false;
        }
        var at = LastUnquotedAt(address);
        if (at < 0)
        {
            problem = "it has no domain";
            return false;
        }
        if (IsDotString(address.AsSpan(0, at)) && IsHostName(address.AsSpan(at + 1)))
        {
            // The usual address is already its own RFC 5321 form (a dot-string at a host name): checked, not rebuilt.
            return TryCheckLengths(address, at, out path, out problem);
        }
        if (!TryReadLocalPart(address.AsSpan(0, at), out var content, out problem))
        {
            return false;
        }
        if (!TryReadDomain(address.AsSpan(at + 1), out var domain, out problem))
        {
            return false;
        }
        var local = IsDotString(content) ? content : Quote(content);
        return TryCheckLengths(string.Concat(local, "@", domain), local.Length, out path, out problem);
    }

    /// <summary>RFC 5321's limits on a written path whose local part is <paramref name="localLength"/> characters.</summary>
    private static bool TryCheckLengths(string written, int localLength, [NotNullWhen(true)] out string? path, [NotNullWhen(false)] out string? problem)
    {
        path = null;
        if (localLength > MaxLocalPart)
        {
            problem = $"its local part is longer than {MaxLocalPart} characters";
            return false;
        }
        if (written.Length + 2 > MaxPath)
        {
            problem = $"it is longer than {MaxPath - 2} characters";
            return false;
        }
        path = written;
        problem = null;
        return true;
    }

    /// <summary>Characters no SMTP path may hold, whatever quoting: SMTP without SMTPUTF8 is printable ASCII.</summary>
    private static string? FirstUnwritable(string address)
    {
        foreach (var c in address)
        {
            if (c > '~')
            {
                return "it contains non-ASCII characters (SMTPUTF8 is not supported)";
            }
            if (c < ' ')
            {
                return "it contains a control character";
            }
        }
        return null;
    }

    private static int LastUnquotedAt(string address)
    {
        var quoted = false;
        var at = -1;
        for (var i = 0; i < address.Length; i++)
        {
            var c = address[i];
            if (quoted && c == '\\')
            {
                i++;
            }
            else if (c == '"')
            {
                quoted = !quoted;
            }
            else if (!quoted && c == '@')
            {
                at = i;
            }
        }
        return at;
    }

    /// <summary>The local part's content: atoms and dots as they are, quoted strings without their quoting.</summary>
    private static bool TryReadLocalPart(ReadOnlySpan<char> local, out string content, [NotNullWhen(false)] out string? problem)
    {
        var builder = new StringBuilder(local.Length);
        var quoted = false;
        for (var i = 0; i < local.Length; i++)
        {
            var c = local[i];
            if (quoted)
            {
                if (c == '\\' && i + 1 < local.Length)
                {
                    builder.Append(local[++i]);
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    builder.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == '.' || !AtomSpecials.Contains(c, StringComparison.Ordinal))
            {
                builder.Append(c);
            }
            else
            {
                content = "";
                problem = $"its local part has '{c}' outside quotes";
                return false;
            }
        }
        content = builder.ToString();
        if (quoted)
        {
            problem = "its local part has an unterminated quoted string";
            return false;
        }
        problem = null;
        return true;
    }

    private static bool TryReadDomain(ReadOnlySpan<char> domain, out string written, [NotNullWhen(false)] out string? problem)
    {
        written = "";
        // "example.net." names the same domain; SMTP wants it without the root's dot.
        if (domain.Length > 1 && domain[^1] == '.' && domain[0] != '[')
        {
            domain = domain[..^1];
        }
        if (domain.IsEmpty)
        {
            problem = "it has no domain";
            return false;
        }
        if (domain.Length > MaxDomain)
        {
            problem = $"its domain is longer than {MaxDomain} characters";
            return false;
        }
        if (domain[0] == '[')
        {
            // Address literal (RFC 5321 §4.1.3): dtext between brackets.
            if (domain.Length < 3 || domain[^1] != ']' || domain[1..^1].ContainsAny("[]\\ "))
            {
                problem = "its domain is not a valid address literal";
                return false;
            }
        }
        else if (!IsHostName(domain))
        {
            problem = "its domain is not a valid host name";
            return false;
        }
        written = domain.ToString();
        problem = null;
        return true;
    }

    /// <summary>Labels of letters, digits, '-' and '_', each 1 to 63 long, at most <see cref="MaxDomain"/> in all.</summary>
    private static bool IsHostName(ReadOnlySpan<char> domain)
    {
        if (domain.IsEmpty || domain.Length > MaxDomain)
        {
            return false;
        }
        foreach (var range in domain.Split('.'))
        {
            var label = domain[range];
            if (label.IsEmpty || label.Length > 63 || label.ContainsAnyExcept(HostChars))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>RFC 5321 Dot-string: atoms of atext joined by single dots.</summary>
    private static bool IsDotString(ReadOnlySpan<char> content)
    {
        if (content.Length == 0 || content[0] == '.' || content[^1] == '.' || content.IndexOf("..", StringComparison.Ordinal) >= 0)
        {
            return false;
        }
        foreach (var c in content)
        {
            if (c != '.' && AtomSpecials.Contains(c, StringComparison.Ordinal))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>RFC 5321 Quoted-string: qtextSMTP as it is, '"' and '\' as quoted-pairSMTP.</summary>
    private static string Quote(string content)
    {
        var builder = new StringBuilder(content.Length + 4).Append('"');
        foreach (var c in content)
        {
            if (c is '"' or '\\')
            {
                builder.Append('\\');
            }
            builder.Append(c);
        }
        return builder.Append('"').ToString();
    }
}
