using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.RegularExpressions;

namespace ManycoreMail.Templates;

/// <summary>Template names and the <c>name@version</c> references a send uses.</summary>
public static partial class TemplateNames
{
    public const int MaxLength = 100;

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,100}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    public static bool IsValid([NotNullWhen(true)] string? name) => name is not null && NamePattern().IsMatch(name);

    /// <summary>Throws when <paramref name="name"/> is not a template name, so a store never holds one.</summary>
    public static void Validate(string name)
    {
        if (!IsValid(name))
        {
            throw new ArgumentException($"'{name}' is not a template name (1 to {MaxLength} of A-Z a-z 0-9 _ . -).", nameof(name));
        }
    }

    /// <summary>Parses <c>name</c> (latest version) or <c>name@version</c> (version ≥ 1).</summary>
    public static bool TryParseReference(string? reference, [NotNullWhen(true)] out string? name, out int? version)
    {
        name = null;
        version = null;
        if (reference is null)
        {
            return false;
        }

        var at = reference.IndexOf('@', StringComparison.Ordinal);
        var candidate = at < 0 ? reference : reference[..at];
        if (!IsValid(candidate))
        {
            return false;
        }

        if (at >= 0)
        {
            var digits = reference.AsSpan(at + 1);
            if (digits.IsEmpty || digits.ContainsAnyExceptInRange('0', '9') ||
                !int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) || parsed < 1)
            {
                return false;
            }

            version = parsed;
        }

        name = candidate;
        return true;
    }
}
