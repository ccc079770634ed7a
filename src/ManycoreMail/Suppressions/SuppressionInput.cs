using ManycoreMail.Events;
using ManycoreMail.Suppression;

namespace ManycoreMail.Suppressions;

/// <summary>A field of an entry as a client wrote it (API body, CLI option, CSV column) that is not valid; the
/// message says what is wrong without the field's name, which <see cref="Field"/> holds.</summary>
internal sealed class SuppressionFieldException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}

/// <summary>
/// Entries from text, as the API, the CLI and CSV imports take them: the same defaults (scope global, reason manual,
/// no expiry) and the same precise refusals everywhere.
/// </summary>
internal static class SuppressionInput
{
    public static SuppressionEntry Entry(string? email, string? scope, string? value, string? reason, string? expires, DateTimeOffset now)
    {
        var (address, parsedScope, parsedValue) = Key(email, scope, value);
        var parsedReason = SuppressionReason.Manual;
        if (!string.IsNullOrWhiteSpace(reason) && !SuppressionNames.TryParseReason(reason, out parsedReason))
        {
            throw new SuppressionFieldException("reason", $"'{reason}' is not one of unsubscribe, complaint, bounce, manual");
        }

        DateTimeOffset? until = null;
        if (!string.IsNullOrWhiteSpace(expires))
        {
            if (!EventTime.TryParse(expires, out var parsed))
            {
                throw new SuppressionFieldException("expires", $"'{expires}' is not an RFC 3339 date and time (2027-01-31T00:00:00Z) or Unix seconds");
            }

            // An entry that has already expired would be accepted and then ignored: surely not what was meant.
            if (parsed <= now)
            {
                throw new SuppressionFieldException("expires", $"'{expires}' is not in the future");
            }

            until = parsed;
        }

        return SuppressionEntry.Create(address, parsedScope, parsedValue, parsedReason, now, until);
    }

    /// <summary>What identifies an entry, normalised; scope global when not given.</summary>
    public static (string Email, SuppressionScope Scope, string Value) Key(string? email, string? scope, string? value)
    {
        if (!IsAddress(email) || !SuppressionNames.TryNormalizeEmail(email, out var address))
        {
            throw new SuppressionFieldException("email", $"'{email}' is not an email address");
        }

        var parsedScope = SuppressionScope.Global;
        if (!string.IsNullOrWhiteSpace(scope) && !SuppressionNames.TryParseScope(scope, out parsedScope))
        {
            throw new SuppressionFieldException("scope", $"'{scope}' is not one of global, tenant, domain, sender");
        }

        var hasValue = !string.IsNullOrWhiteSpace(value);
        if (parsedScope == SuppressionScope.Global && hasValue)
        {
            throw new SuppressionFieldException("value", "a global suppression has no value");
        }

        if (parsedScope != SuppressionScope.Global && !hasValue)
        {
            throw new SuppressionFieldException("value", $"a {SuppressionNames.Name(parsedScope)} suppression needs a value");
        }

        if (parsedScope == SuppressionScope.Sender && !IsAddress(value))
        {
            throw new SuppressionFieldException("value", $"'{value}' is not an email address");
        }

        return (address, parsedScope, SuppressionNames.NormalizeValue(parsedScope, value));
    }

    /// <summary>An address, not a display form: "Jane &lt;jane@example.com&gt;" or two addresses in one field would be
    /// stored as an entry that never matches.</summary>
    private static bool IsAddress(string? text)
    {
        if (!SuppressionNames.TryNormalizeEmail(text, out var address))
        {
            return false;
        }

        foreach (var c in address)
        {
            if (c <= ' ' || c == '\u007f' || c is '<' or '>' or ',' or ';' or '"' or '(' or ')')
            {
                return false;
            }
        }

        return true;
    }
}
