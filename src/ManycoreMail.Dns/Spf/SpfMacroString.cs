using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Text;

namespace ManycoreMail.Dns.Spf;

/// <summary>The values macros expand to during one check_host() (RFC 7208 §7.2).</summary>
/// <param name="ValidatedName">The client's validated domain name for <c>%{p}</c>, or null when the expansion does
/// not need it (it costs DNS lookups, so it is only found for strings that use it).</param>
internal sealed record SpfMacroContext(string Sender, string LocalPart, string SenderDomain, string Domain, IPAddress Client, string Helo, string? ValidatedName = null);

/// <summary>A macro-string of RFC 7208 §7.1, parsed once with its record and expanded per check.</summary>
internal sealed class SpfMacroString
{
    private const string Delimiters = ".-+,/_=";

    private readonly IReadOnlyList<Part> _parts;

    private SpfMacroString(IReadOnlyList<Part> parts) => _parts = parts;

    /// <summary>Whether expanding needs <see cref="SpfMacroContext.ValidatedName"/>.</summary>
    public bool UsesValidatedName => _parts.Any(part => part.Letter == 'p');

    /// <summary>Parses <paramref name="text"/> as a domain-spec: a macro-string that ends in a macro or in a
    /// top-level label. <paramref name="explanation"/> also admits the letters c, r and t (exp= only).</summary>
    public static bool TryParseDomainSpec(string text, bool explanation, [NotNullWhen(true)] out SpfMacroString? spec, [NotNullWhen(false)] out string? error)
    {
        if (!TryParse(text, explanation, out spec, out error))
        {
            return false;
        }

        if (spec._parts.Count == 0 || (spec._parts[^1].Letter is null && !EndsWithTopLabel(spec._parts[^1].Literal!)))
        {
            spec = null;
            error = $"'{text}' does not end in a top-level domain label or a macro";
            return false;
        }

        return true;
    }

    /// <summary>Parses a macro-string (the value of any modifier).</summary>
    public static bool TryParse(string text, bool explanation, [NotNullWhen(true)] out SpfMacroString? macroString, [NotNullWhen(false)] out string? error)
    {
        var parts = new List<Part>();
        var literal = new StringBuilder();
        macroString = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c != '%')
            {
                if (c is < '\x21' or > '\x7E')
                {
                    error = $"'{text}' holds a character outside printable ASCII";
                    return false;
                }

                literal.Append(c);
                continue;
            }

            var next = i + 1 < text.Length ? text[i + 1] : '\0';
            i++;
            switch (next)
            {
                case '%':
                    literal.Append('%');
                    continue;
                case '_':
                    literal.Append(' ');
                    continue;
                case '-':
                    literal.Append("%20");
                    continue;
                case '{':
                    break;
                default:
                    error = $"'{text}' has a '%' that is not followed by '{{', '%', '_' or '-'";
                    return false;
            }

            var close = text.IndexOf('}', i);
            if (close < 0 || !TryParseMacro(text.AsSpan(i + 1, close - i - 1), explanation, out var macro))
            {
                error = $"'{text}' has a malformed macro at offset {i - 1}";
                return false;
            }

            if (literal.Length > 0)
            {
                parts.Add(new Part(literal.ToString()));
                literal.Clear();
            }

            parts.Add(macro);
            i = close;
        }

        if (literal.Length > 0)
        {
            parts.Add(new Part(literal.ToString()));
        }

        macroString = new SpfMacroString(parts);
        error = null;
        return true;
    }

    /// <summary>The expanded text. A result meant as a domain is trimmed by <see cref="SpfEvaluation"/>.</summary>
    public string Expand(SpfMacroContext context)
    {
        var text = new StringBuilder();
        foreach (var part in _parts)
        {
            if (part.Letter is not { } letter)
            {
                text.Append(part.Literal);
                continue;
            }

            var value = Transform(Value(letter, context), part);
            text.Append(part.UrlEscape ? Uri.EscapeDataString(value) : value);
        }

        return text.ToString();
    }

    private static string Value(char letter, SpfMacroContext context) => letter switch
    {
        's' => context.Sender,
        'l' => context.LocalPart,
        'o' => context.SenderDomain,
        'd' => context.Domain,
        'i' => DottedAddress(context.Client),
        'p' => context.ValidatedName ?? "unknown",
        'v' => context.Client.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? "in-addr" : "ip6",
        'h' => context.Helo,
        // c, r and t parse only in exp=, whose explanation this implementation never builds.
        _ => throw new UnreachableException($"macro letter '{letter}' is only allowed in exp="),
    };

    /// <summary>§7.3: IPv4 as dotted quad, IPv6 as 32 dot-separated nibbles.</summary>
    private static string DottedAddress(IPAddress address)
    {
        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            return address.ToString();
        }

        var bytes = address.GetAddressBytes();
        var text = new StringBuilder(63);
        foreach (var b in bytes)
        {
            text.Append(HexDigit(b >> 4)).Append('.').Append(HexDigit(b & 0xF)).Append('.');
        }

        return text.ToString(0, text.Length - 1);

        static char HexDigit(int nibble) => (char)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);
    }

    /// <summary>§7.3: split on the delimiters, optionally reverse, keep the rightmost parts, join with dots.</summary>
    private static string Transform(string value, Part macro)
    {
        if (macro.Keep is null && !macro.Reverse && macro.Delimiters is null)
        {
            return value;
        }

        var pieces = value.Split((macro.Delimiters ?? ".").ToCharArray());
        if (macro.Reverse)
        {
            Array.Reverse(pieces);
        }

        var keep = Math.Min(macro.Keep ?? pieces.Length, pieces.Length);
        return string.Join('.', pieces, pieces.Length - keep, keep);
    }

    /// <summary>macro-letter transformers *delimiter, the text between "%{" and "}".</summary>
    private static bool TryParseMacro(ReadOnlySpan<char> body, bool explanation, [NotNullWhen(true)] out Part? macro)
    {
        macro = null;
        if (body.IsEmpty)
        {
            return false;
        }

        var letter = char.ToLowerInvariant(body[0]);
        var allowed = explanation ? "slodiphvcrt" : "slodiphv";
        if (!char.IsAsciiLetter(body[0]) || !allowed.Contains(letter, StringComparison.Ordinal))
        {
            return false;
        }

        var position = 1;
        while (position < body.Length && char.IsAsciiDigit(body[position]))
        {
            position++;
        }

        int? keep = null;
        if (position > 1)
        {
            // The digit count is unbounded in the grammar; anything above 128 keeps every part of any name anyway.
            var digits = body[1..position];
            keep = digits.Length > 3 ? 128 : Math.Min(int.Parse(digits, System.Globalization.CultureInfo.InvariantCulture), 128);
            if (keep == 0)
            {
                return false; // §7.3: the DIGIT transformer must be nonzero
            }
        }

        var reverse = position < body.Length && body[position] is 'r' or 'R';
        if (reverse)
        {
            position++;
        }

        var delimiters = body[position..];
        foreach (var c in delimiters)
        {
            if (!Delimiters.Contains(c, StringComparison.Ordinal))
            {
                return false;
            }
        }

        macro = new Part(null, letter, char.IsAsciiLetterUpper(body[0]), keep, reverse, delimiters.IsEmpty ? null : delimiters.ToString());
        return true;
    }

    /// <summary>domain-end = "." toplabel ["."], where a toplabel is alphanumeric with a letter somewhere, or
    /// hyphenated with alphanumerics at both ends (so a dotted-quad is never a domain).</summary>
    internal static bool EndsWithTopLabel(string literal)
    {
        var text = literal.EndsWith('.') ? literal[..^1] : literal;
        var dot = text.LastIndexOf('.');
        if (dot < 0)
        {
            return false;
        }

        var label = text.AsSpan(dot + 1);
        if (label.IsEmpty || label.ContainsAnyExcept(TopLabelCharacters))
        {
            return false;
        }

        return label.Contains('-')
            ? char.IsAsciiLetterOrDigit(label[0]) && char.IsAsciiLetterOrDigit(label[^1])
            : label.ContainsAnyInRange('A', 'Z') || label.ContainsAnyInRange('a', 'z');
    }

    private static readonly System.Buffers.SearchValues<char> TopLabelCharacters =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");

    /// <summary>Either literal text (escapes already applied) or one macro.</summary>
    private sealed record Part(string? Literal, char? Letter = null, bool UrlEscape = false, int? Keep = null, bool Reverse = false, string? Delimiters = null);
}
