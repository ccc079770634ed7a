using System.Diagnostics.CodeAnalysis;

namespace ManycoreMail.Suppression;

/// <summary>The names of scopes and reasons as the API, the CLI, CSV files and tokens write them, and the one way
/// addresses and values are normalised, so that every store and every caller compare alike.</summary>
public static class SuppressionNames
{
    public static string Name(SuppressionScope scope) => scope switch
    {
        SuppressionScope.Global => "global",
        SuppressionScope.Tenant => "tenant",
        SuppressionScope.Domain => "domain",
        SuppressionScope.Sender => "sender",
        _ => throw new ArgumentOutOfRangeException(nameof(scope), scope, null),
    };

    public static string Name(SuppressionReason reason) => reason switch
    {
        SuppressionReason.Unsubscribe => "unsubscribe",
        SuppressionReason.Complaint => "complaint",
        SuppressionReason.Bounce => "bounce",
        SuppressionReason.Manual => "manual",
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, null),
    };

    public static bool TryParseScope(string? name, out SuppressionScope scope)
    {
        switch (name?.Trim().ToLowerInvariant())
        {
            case "global": scope = SuppressionScope.Global; return true;
            case "tenant": scope = SuppressionScope.Tenant; return true;
            case "domain": scope = SuppressionScope.Domain; return true;
            case "sender": scope = SuppressionScope.Sender; return true;
            default: scope = default; return false;
        }
    }

    public static bool TryParseReason(string? name, out SuppressionReason reason)
    {
        switch (name?.Trim().ToLowerInvariant())
        {
            case "unsubscribe": reason = SuppressionReason.Unsubscribe; return true;
            case "complaint": reason = SuppressionReason.Complaint; return true;
            case "bounce": reason = SuppressionReason.Bounce; return true;
            case "manual": reason = SuppressionReason.Manual; return true;
            default: reason = default; return false;
        }
    }

    /// <summary>The address as entries hold it: trimmed and lower case. Local parts are case-sensitive in theory
    /// (RFC 5321 §2.4) and never in practice; a suppression that missed "John@" for "john@" would mail someone
    /// who asked not to be mailed.</summary>
    /// <exception cref="ArgumentException">Not an address: no @, or nothing on one side of the last one.</exception>
    public static string NormalizeEmail(string email)
    {
        ArgumentNullException.ThrowIfNull(email);
        var trimmed = email.Trim();
        var at = trimmed.LastIndexOf('@');
        if (at <= 0 || at == trimmed.Length - 1)
        {
            throw new ArgumentException($"\"{email}\" is not an email address.", nameof(email));
        }
        return trimmed.ToLowerInvariant();
    }

    /// <summary>True and the normalised address, or false for anything that is not one.</summary>
    public static bool TryNormalizeEmail(string? email, [NotNullWhen(true)] out string? normalized)
    {
        normalized = null;
        if (email is null)
        {
            return false;
        }
        var trimmed = email.Trim();
        var at = trimmed.LastIndexOf('@');
        if (at <= 0 || at == trimmed.Length - 1)
        {
            return false;
        }
        normalized = trimmed.ToLowerInvariant();
        return true;
    }

    /// <summary>The value of an entry in <paramref name="scope"/>: empty for global; a tenant as given (trimmed);
    /// a domain or sender address in lower case.</summary>
    /// <exception cref="ArgumentException">A global entry with a value, another scope without one, or a sender
    /// value that is not an address.</exception>
    public static string NormalizeValue(SuppressionScope scope, string? value)
    {
        var trimmed = value?.Trim() ?? "";
        return scope switch
        {
            SuppressionScope.Global when trimmed.Length == 0 => "",
            SuppressionScope.Global => throw new ArgumentException("A global suppression has no value.", nameof(value)),
            _ when trimmed.Length == 0 => throw new ArgumentException($"A {Name(scope)} suppression needs a value.", nameof(value)),
            SuppressionScope.Tenant => trimmed,
            SuppressionScope.Domain => trimmed.TrimEnd('.').ToLowerInvariant(),
            SuppressionScope.Sender => NormalizeEmail(trimmed),
            _ => throw new ArgumentOutOfRangeException(nameof(scope), scope, null),
        };
    }

    /// <summary>"global", or "scope:value" (<c>sender:news@example.com</c>): how a tracking token names the scope an
    /// unsubscribe leaves.</summary>
    public static string Format(SuppressionScope scope, string value) =>
        scope == SuppressionScope.Global ? "global" : Name(scope) + ":" + value;

    /// <summary>Reads <see cref="Format"/> back; false for anything else.</summary>
    public static bool TryParse(string? text, out SuppressionScope scope, [NotNullWhen(true)] out string? value)
    {
        value = null;
        scope = default;
        if (text is null)
        {
            return false;
        }
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var name = colon < 0 ? text : text[..colon];
        if (!TryParseScope(name, out scope) || (scope == SuppressionScope.Global) != (colon < 0))
        {
            return false;
        }
        try
        {
            value = NormalizeValue(scope, colon < 0 ? null : text[(colon + 1)..]);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
