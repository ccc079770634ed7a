using System.Text;

namespace ManycoreMail.Mime;

public sealed record MailboxAddress(string? DisplayName, string Address)
{
    public string LocalPart => Address[..Address.LastIndexOf('@')];
    public string Domain => Address[(Address.LastIndexOf('@') + 1)..];
}

/// <summary>RFC 5322 §3.4 address lists: mailboxes, name-addr, groups, quoted strings, comments, obsolete forms.</summary>
public static class AddressParser
{
    /// <summary>Every mailbox in an address-list value (group members included); unparsable items are skipped.</summary>
    public static IReadOnlyList<MailboxAddress> ParseList(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var tokens = Tokenize(value);
        var result = new List<MailboxAddress>();
        var i = 0;
        // Every round consumes at least one token.
        while (i < tokens.Count)
        {
            var stop = i;
            while (stop < tokens.Count && !tokens[stop].IsSpecial('<', ':', ',', ';'))
            {
                stop++;
            }

            if (stop < tokens.Count && tokens[stop].IsSpecial('<'))
            {
                var displayName = BuildPhrase(value, tokens, i, stop);
                var addressStart = stop + 1;
                var close = addressStart;
                while (close < tokens.Count && !tokens[close].IsSpecial('>'))
                {
                    close++;
                }
                // Obsolete route (RFC 5322 §4.4): <@relay1,@relay2:user@example.com>.
                if (addressStart < close && tokens[addressStart].IsSpecial('@'))
                {
                    for (var j = addressStart; j < close; j++)
                    {
                        if (tokens[j].IsSpecial(':'))
                        {
                            addressStart = j + 1;
                            break;
                        }
                    }
                }
                var address = BuildAddrSpec(value, tokens, addressStart, close);
                if (address is not null)
                {
                    result.Add(new MailboxAddress(displayName, address));
                }
                // Skip whatever follows the angle-addr up to the next item.
                i = close + 1;
                while (i < tokens.Count && !tokens[i].IsSpecial(',', ';'))
                {
                    i++;
                }
                i++;
                continue;
            }

            if (stop < tokens.Count && tokens[stop].IsSpecial(':'))
            {
                // "display-name:" opens a group; its name is not a mailbox. The ';' that closes it ends an item.
                i = stop + 1;
                continue;
            }

            var plain = BuildAddrSpec(value, tokens, i, stop);
            if (plain is not null)
            {
                result.Add(new MailboxAddress(null, plain));
            }
            i = stop + 1;
        }
        return result;
    }

    private enum TokenKind { Atom, Quoted, DomainLiteral, Special }

    private readonly record struct Token(TokenKind Kind, int Start, int End, bool SpaceBefore, string? Unquoted = null, char Special = '\0')
    {
        public bool IsSpecial(char a) => Kind == TokenKind.Special && Special == a;
        public bool IsSpecial(char a, char b) => Kind == TokenKind.Special && (Special == a || Special == b);
        public bool IsSpecial(char a, char b, char c, char d) =>
            Kind == TokenKind.Special && (Special == a || Special == b || Special == c || Special == d);
    }

    private const string Specials = "<>:;@,.";

    private static List<Token> Tokenize(string text)
    {
        // Sized for the usual address (a token per three characters or so) so that the list is not regrown per call.
        var tokens = new List<Token>(Math.Min(text.Length / 3 + 2, 64));
        var space = false;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            // Other control characters have no place in an address (and no token would consume them): they
            // separate like whitespace, so every round of this loop moves on.
            if (c is <= ' ' or (char)127)
            {
                space = true;
                i++;
            }
            else if (c == '(')
            {
                i = SkipComment(text, i);
                space = true;
            }
            else if (c == ')' || c == '\\' || c == ']')
            {
                i++; // stray: ignore
            }
            else if (c == '"')
            {
                var builder = new StringBuilder();
                var start = i++;
                while (i < text.Length && text[i] != '"')
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                    {
                        i++;
                    }
                    if (text[i] is not ('\r' or '\n'))
                    {
                        builder.Append(text[i]);
                    }
                    i++;
                }
                i = Math.Min(i + 1, text.Length);
                tokens.Add(new Token(TokenKind.Quoted, start, i, space, builder.ToString()));
                space = false;
            }
            else if (c == '[')
            {
                var start = i;
                var close = text.IndexOf(']', i);
                i = close < 0 ? text.Length : close + 1;
                tokens.Add(new Token(TokenKind.DomainLiteral, start, i, space));
                space = false;
            }
            else if (Specials.Contains(c, StringComparison.Ordinal))
            {
                tokens.Add(new Token(TokenKind.Special, i, i + 1, space, Special: c));
                space = false;
                i++;
            }
            else
            {
                var start = i;
                while (i < text.Length && IsAtomChar(text[i]))
                {
                    i++;
                }
                tokens.Add(new Token(TokenKind.Atom, start, i, space));
                space = false;
            }
        }
        return tokens;
    }

    // atext plus every non-ASCII character (RFC 6532 UTF8-non-ascii).
    private static bool IsAtomChar(char c) =>
        c > ' ' && c != (char)127 && "()<>[]:;@\\,.\"".IndexOf(c) < 0;

    private static int SkipComment(string text, int i)
    {
        var depth = 0;
        while (i < text.Length)
        {
            var c = text[i++];
            if (c == '\\')
            {
                i++;
            }
            else if (c == '(')
            {
                depth++;
            }
            else if (c == ')' && --depth == 0)
            {
                break;
            }
        }
        return Math.Min(i, text.Length);
    }

    /// <summary>A display name: words joined by one space where the source had whitespace, RFC 2047 words decoded.</summary>
    private static string? BuildPhrase(string text, List<Token> tokens, int start, int end)
    {
        if (start >= end)
        {
            return null;
        }
        var builder = new StringBuilder();
        for (var i = start; i < end; i++)
        {
            var token = tokens[i];
            if (i > start && token.SpaceBefore)
            {
                builder.Append(' ');
            }
            builder.Append(token.Kind == TokenKind.Quoted ? token.Unquoted : text.AsSpan(token.Start, token.End - token.Start));
        }
        var phrase = EncodedWords.Decode(builder.ToString()).Trim();
        return phrase.Length == 0 ? null : phrase;
    }

    /// <summary>local-part "@" domain from the tokens, with CFWS removed; null unless it is one.</summary>
    private static string? BuildAddrSpec(string text, List<Token> tokens, int start, int end)
    {
        var at = -1;
        for (var i = start; i < end; i++)
        {
            var token = tokens[i];
            if (token.IsSpecial('@'))
            {
                if (at >= 0)
                {
                    return null;
                }
                at = i;
            }
            else if (token.Kind == TokenKind.Special && !token.IsSpecial('.'))
            {
                return null;
            }
            // Two words with nothing between them ("John Smith j@x") are a phrase without brackets, not an address.
            if (i > start && IsWordLike(token) && IsWordLike(tokens[i - 1]))
            {
                return null;
            }
        }
        if (at <= start || at >= end - 1)
        {
            return null;
        }

        var builder = new StringBuilder();
        for (var i = start; i < end; i++)
        {
            var token = tokens[i];
            if (token.Kind == TokenKind.Quoted)
            {
                AppendLocalPart(builder, token.Unquoted!);
            }
            else
            {
                builder.Append(text.AsSpan(token.Start, token.End - token.Start));
            }
        }
        return builder.ToString();
    }

    private static bool IsWordLike(Token token) => token.Kind is TokenKind.Atom or TokenKind.Quoted or TokenKind.DomainLiteral;

    /// <summary>A quoted local part stays quoted only when it must ("a b"@c); "john"@c becomes john@c.</summary>
    private static void AppendLocalPart(StringBuilder builder, string content)
    {
        var needsQuotes = content.Length == 0 || content[0] == '.' || content[^1] == '.' || content.Contains("..", StringComparison.Ordinal);
        foreach (var c in content)
        {
            if (c != '.' && !IsAtomChar(c))
            {
                needsQuotes = true;
                break;
            }
        }
        if (!needsQuotes)
        {
            builder.Append(content);
            return;
        }
        builder.Append('"');
        foreach (var c in content)
        {
            if (c is '"' or '\\')
            {
                builder.Append('\\');
            }
            builder.Append(c);
        }
        builder.Append('"');
    }
}
