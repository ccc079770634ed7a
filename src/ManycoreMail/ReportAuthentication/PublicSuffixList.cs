using System.Globalization;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.ReportAuthentication;

/// <summary>
/// Organizational domains (RFC 7489 §3.2) from the Public Suffix List: the public suffix of a name plus one label.
/// Without a list every name is its own organizational domain, so relaxed alignment becomes exact-domain alignment:
/// stricter, never looser.
/// </summary>
internal sealed class PublicSuffixList
{
    /// <summary>Where Debian's <c>publicsuffix</c> package installs the list.</summary>
    public const string DefaultPath = "/usr/share/publicsuffix/public_suffix_list.dat";

    private static readonly IdnMapping Idn = new();

    private readonly HashSet<string> _rules;
    private readonly HashSet<string> _wildcards;
    private readonly HashSet<string> _exceptions;

    private PublicSuffixList(HashSet<string> rules, HashSet<string> wildcards, HashSet<string> exceptions)
    {
        _rules = rules;
        _wildcards = wildcards;
        _exceptions = exceptions;
    }

    /// <summary>No rules: exact-domain alignment.</summary>
    public static PublicSuffixList Empty { get; } = new([], [], []);

    /// <summary>False when the list had no rules (missing or unreadable file): alignment is exact-domain only.</summary>
    public bool HasRules => _rules.Count + _wildcards.Count + _exceptions.Count > 0;

    /// <summary>The list at <paramref name="path"/>; <see cref="Empty"/> with one warning when it cannot be read.</summary>
    public static PublicSuffixList Load(string path, ILogger logger)
    {
        try
        {
            return Parse(File.ReadLines(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("Public Suffix List {Path} could not be read ({Error}): reports are aligned by exact domain only", path, e.Message);
            return Empty;
        }
    }

    /// <summary>The list's lines (the file format: a rule per line, <c>//</c> comments, <c>*.</c> wildcards, <c>!</c> exceptions).</summary>
    public static PublicSuffixList Parse(IEnumerable<string> lines)
    {
        HashSet<string> rules = new(StringComparer.Ordinal), wildcards = new(StringComparer.Ordinal), exceptions = new(StringComparer.Ordinal);
        foreach (var line in lines)
        {
            // A rule ends at the first whitespace; the rest of the line is ignored.
            var rule = line.AsSpan().Trim();
            var space = rule.IndexOfAny(' ', '\t');
            if (space >= 0)
            {
                rule = rule[..space];
            }
            if (rule.IsEmpty || rule.StartsWith("//"))
            {
                continue;
            }
            if (rule.StartsWith("!"))
            {
                Add(exceptions, rule[1..]);
            }
            else if (rule.StartsWith("*."))
            {
                Add(wildcards, rule[2..]);
            }
            else
            {
                Add(rules, rule);
            }
        }
        return new PublicSuffixList(rules, wildcards, exceptions);
    }

    /// <summary>The organizational domain of <paramref name="domain"/> (lower case, A-labels): its public suffix plus
    /// one label, or the name itself when it is a public suffix or no rule is known.</summary>
    public string OrganizationalDomain(string domain)
    {
        var name = Normalize(domain);
        if (name is null || !HasRules)
        {
            return name ?? domain.ToLowerInvariant();
        }
        var labels = name.Split('.');
        var suffixLabels = SuffixLabelCount(labels);
        return suffixLabels >= labels.Length ? name : string.Join('.', labels[^(suffixLabels + 1)..]);
    }

    /// <summary>How many labels of the name its public suffix has: the longest matching rule, an exception rule
    /// winning (its suffix is the rule less its first label), the implicit <c>*</c> rule when nothing matches.</summary>
    private int SuffixLabelCount(string[] labels)
    {
        var longest = 1;
        for (var count = labels.Length; count >= 1; count--)
        {
            var suffix = string.Join('.', labels[^count..]);
            if (_exceptions.Contains(suffix))
            {
                return count - 1;
            }
            if (_rules.Contains(suffix))
            {
                longest = Math.Max(longest, count);
            }
            if (count >= 2 && _wildcards.Contains(string.Join('.', labels[^(count - 1)..])))
            {
                longest = Math.Max(longest, count);
            }
        }
        return longest;
    }

    private static void Add(HashSet<string> set, ReadOnlySpan<char> rule)
    {
        if (Normalize(rule.ToString()) is { } normalized)
        {
            set.Add(normalized);
        }
    }

    /// <summary>Lower case A-labels without a trailing dot; null for what is no domain name.</summary>
    private static string? Normalize(string domain)
    {
        var trimmed = domain.Trim().TrimEnd('.');
        if (trimmed.Length == 0)
        {
            return null;
        }
        try
        {
            return Idn.GetAscii(trimmed).ToLowerInvariant();
        }
        catch (ArgumentException)
        {
            return null;
        }
    }
}
