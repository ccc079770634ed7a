using System.Globalization;

namespace ManycoreMail.TransportSecurity.MtaSts;

public enum MtaStsMode
{
    /// <summary>Deliver only to matching MX hosts over TLS with a valid certificate.</summary>
    Enforce,
    /// <summary>Deliver as usual; report what enforcing would have refused.</summary>
    Testing,
    /// <summary>The domain withdrew its policy.</summary>
    None,
}

/// <summary>An MTA-STS policy (RFC 8461 §3.2) as fetched from https://mta-sts.&lt;domain&gt;/.well-known/mta-sts.txt.</summary>
public sealed record MtaStsPolicy(MtaStsMode Mode, IReadOnlyList<string> MxPatterns, TimeSpan MaxAge, string Text)
{
    /// <summary>RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year).</summary>
    public static readonly TimeSpan LongestMaxAge = TimeSpan.FromSeconds(31_557_600);

    /// <summary>Whether <paramref name="host"/> matches an <c>mx</c> pattern: exactly, or a "*." pattern standing for
    /// exactly one leftmost label (§4.1: "*.example.com" matches "mx.example.com", not "a.mx.example.com").</summary>
    public bool Matches(string host) => MxPatterns.Any(pattern => HostMatches(pattern, host));

    public static bool HostMatches(string pattern, string host)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(host);
        pattern = pattern.TrimEnd('.');
        host = host.TrimEnd('.');
        if (!pattern.StartsWith("*.", StringComparison.Ordinal))
        {
            return string.Equals(pattern, host, StringComparison.OrdinalIgnoreCase);
        }

        var dot = host.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && string.Equals(host[(dot + 1)..], pattern[2..], StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Parses the policy body: "key: value" lines ending in CRLF or LF (§3.2). version must be STSv1 and
    /// come first; mode and max_age exactly once; mx at least once unless the mode is none. Unknown keys are
    /// ignored. Throws <see cref="FormatException"/> naming what is wrong, so a report can say it.</summary>
    public static MtaStsPolicy Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string? version = null, mode = null, maxAge = null;
        var patterns = new List<string>();
        var lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            var line = rawLine.TrimEnd('\r');
            lineNumber++;
            if (line.Trim().Length == 0)
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new FormatException($"policy line {lineNumber} is not 'key: value'");
            }

            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (version is null && key != "version")
            {
                throw new FormatException("the policy does not start with 'version: STSv1'");
            }

            switch (key)
            {
                case "version":
                    version = version is null ? value : throw new FormatException("version appears twice");
                    break;
                case "mode":
                    mode = mode is null ? value : throw new FormatException("mode appears twice");
                    break;
                case "max_age":
                    maxAge = maxAge is null ? value : throw new FormatException("max_age appears twice");
                    break;
                case "mx":
                    patterns.Add(ValidPattern(value));
                    break;
            }
        }

        if (version != "STSv1")
        {
            throw new FormatException($"version is '{version}', not STSv1");
        }

        var parsedMode = mode switch
        {
            "enforce" => MtaStsMode.Enforce,
            "testing" => MtaStsMode.Testing,
            "none" => MtaStsMode.None,
            null => throw new FormatException("mode is missing"),
            _ => throw new FormatException($"mode '{mode}' is not enforce, testing or none"),
        };
        if (maxAge is null || maxAge.Length > 10 || !long.TryParse(maxAge, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            throw new FormatException(maxAge is null ? "max_age is missing" : $"max_age '{maxAge}' is not a number of seconds");
        }

        if (patterns.Count == 0 && parsedMode != MtaStsMode.None)
        {
            throw new FormatException("no mx pattern");
        }

        var age = TimeSpan.FromSeconds(Math.Min(seconds, (long)LongestMaxAge.TotalSeconds));
        return new MtaStsPolicy(parsedMode, patterns, age, text);
    }

    private static string ValidPattern(string value)
    {
        var name = value.StartsWith("*.", StringComparison.Ordinal) ? value[2..] : value;
        if (name.Length == 0 || name.Contains('*', StringComparison.Ordinal) || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_'))
        {
            throw new FormatException($"mx '{value}' is not a host name or a '*.' pattern");
        }

        return value.ToLowerInvariant();
    }
}
