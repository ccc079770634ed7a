using System.Text;

namespace ManycoreMail.Mime;

/// <summary>A parsed Content-Type value (RFC 2045 §5.1): type/subtype and parameters (token or quoted-string,
/// names case-insensitive, comments ignored).</summary>
public sealed class ContentType
{
    private readonly KeyValuePair<string, string>[] _parameters;

    private ContentType(string mediaType, string mediaSubtype, KeyValuePair<string, string>[] parameters)
    {
        MediaType = mediaType;
        MediaSubtype = mediaSubtype;
        _parameters = parameters;
    }

    /// <summary>Lower-case type, e.g. "multipart".</summary>
    public string MediaType { get; }

    /// <summary>Lower-case subtype, e.g. "alternative".</summary>
    public string MediaSubtype { get; }

    public IReadOnlyList<KeyValuePair<string, string>> Parameters => _parameters;

    public bool IsMultipart => MediaType == "multipart";

    public bool Is(string type, string subtype) => MediaType == type && MediaSubtype == subtype;

    /// <summary>The value of a parameter (case-insensitive name), or null.</summary>
    public string? GetParameter(string name)
    {
        foreach (var parameter in _parameters)
        {
            if (string.Equals(parameter.Key, name, StringComparison.OrdinalIgnoreCase))
            {
                return parameter.Value;
            }
        }
        return null;
    }

    /// <summary>Parse a Content-Type value; null when it has no valid type/subtype. A bad parameter ends the
    /// parameter list (what came before it is kept), as lenient mail readers do.</summary>
    public static ContentType? Parse(string? value)
    {
        if (value is null)
        {
            return null;
        }
        var scanner = new Scanner(value);
        var type = scanner.ReadToken();
        if (type is null || !scanner.TryConsume('/'))
        {
            return null;
        }
        var subtype = scanner.ReadToken();
        if (subtype is null)
        {
            return null;
        }

        var parameters = new List<KeyValuePair<string, string>>();
        // Each round consumes at least the ';', so the loop ends within value.Length rounds.
        while (scanner.TryConsume(';'))
        {
            var name = scanner.ReadToken();
            if (name is null || !scanner.TryConsume('='))
            {
                if (scanner.AtEnd)
                {
                    break;
                }
                continue;
            }
            var parameterValue = scanner.ReadQuotedString() ?? scanner.ReadValue();
            if (parameterValue is null)
            {
                break;
            }
            parameters.Add(new KeyValuePair<string, string>(name, parameterValue));
        }
        return new ContentType(type.ToLowerInvariant(), subtype.ToLowerInvariant(), [.. parameters]);
    }

    private ref struct Scanner(string text)
    {
        private int _position;

        public readonly bool AtEnd => _position >= text.Length;

        public bool TryConsume(char c)
        {
            SkipWhitespaceAndComments();
            if (_position < text.Length && text[_position] == c)
            {
                _position++;
                return true;
            }
            return false;
        }

        public string? ReadToken()
        {
            SkipWhitespaceAndComments();
            var start = _position;
            while (_position < text.Length && IsTokenChar(text[_position]))
            {
                _position++;
            }
            return _position > start ? text[start.._position] : null;
        }

        /// <summary>An unquoted parameter value. Lenient: real mail has unquoted boundaries with '=' or '/' in them,
        /// so everything up to ';', whitespace or a comment is taken.</summary>
        public string? ReadValue()
        {
            SkipWhitespaceAndComments();
            var start = _position;
            while (_position < text.Length && text[_position] is not (';' or ' ' or '\t' or '\r' or '\n' or '(' or '"'))
            {
                _position++;
            }
            return _position > start ? text[start.._position] : null;
        }

        public string? ReadQuotedString()
        {
            SkipWhitespaceAndComments();
            if (_position >= text.Length || text[_position] != '"')
            {
                return null;
            }
            _position++;
            var builder = new StringBuilder();
            while (_position < text.Length)
            {
                var c = text[_position++];
                if (c == '"')
                {
                    return builder.ToString();
                }
                if (c == '\\' && _position < text.Length)
                {
                    c = text[_position++];
                }
                builder.Append(c);
            }
            return builder.ToString(); // unterminated: take the rest, as lenient readers do
        }

        private void SkipWhitespaceAndComments()
        {
            var depth = 0;
            while (_position < text.Length)
            {
                var c = text[_position];
                if (depth > 0)
                {
                    if (c == '\\')
                    {
                        _position++;
                    }
                    else if (c == '(')
                    {
                        depth++;
                    }
                    else if (c == ')')
                    {
                        depth--;
                    }
                }
                else if (c == '(')
                {
                    depth = 1;
                }
                else if (c is not (' ' or '\t' or '\r' or '\n'))
                {
                    return;
                }
                _position++;
            }
        }

        // RFC 2045 token: any printable ASCII except SPACE and tspecials.
        private static bool IsTokenChar(char c) => c is > ' ' and < (char)127 && "()<>@,;:\\\"/[]?=".IndexOf(c) < 0;
    }
}
