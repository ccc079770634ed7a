using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace ManycoreMail.Dns.Spf;

internal enum SpfMechanismKind
{
    All,
    Include,
    A,
    Mx,
    Ptr,
    Ip4,
    Ip6,
    Exists,
}

/// <summary>One directive: what to test and the result it gives when it matches.</summary>
/// <param name="Target">The domain-spec of include, exists, and (optional) a, mx and ptr.</param>
/// <param name="Network">The network of ip4 and ip6.</param>
/// <param name="Ip4Prefix">The prefix length compared for IPv4 clients (ip4, a, mx).</param>
/// <param name="Ip6Prefix">The prefix length compared for IPv6 clients (ip6, a, mx).</param>
/// <param name="Text">The term as published, for reasons.</param>
internal sealed record SpfMechanism(SpfResult Qualifier, SpfMechanismKind Kind, SpfMacroString? Target, IPAddress? Network, int Ip4Prefix, int Ip6Prefix, string Text)
{
    /// <summary>Whether evaluating this term counts against the limit of 10 DNS-querying terms (§4.6.4).</summary>
    public bool QueriesDns => Kind is SpfMechanismKind.Include or SpfMechanismKind.A or SpfMechanismKind.Mx or SpfMechanismKind.Ptr or SpfMechanismKind.Exists;
}

/// <summary>A parsed "v=spf1" record. exp= is checked for syntax but not kept: explanations are never built.</summary>
internal sealed record SpfRecord(IReadOnlyList<SpfMechanism> Mechanisms, SpfMacroString? Redirect)
{
    /// <summary>§4.5: "v=spf1" (any case) alone or followed by a space.</summary>
    public static bool IsSpfRecord(string text) =>
        text.StartsWith("v=spf1", StringComparison.OrdinalIgnoreCase) && (text.Length == 6 || text[6] == ' ');
}

/// <summary>RFC 7208 §4.6 and §5, §6: the record grammar. Any syntax error anywhere makes the whole record a permerror.</summary>
internal static partial class SpfRecordParser
{
    public static bool TryParse(string text, [NotNullWhen(true)] out SpfRecord? record, [NotNullWhen(false)] out string? error)
    {
        record = null;
        if (!SpfRecord.IsSpfRecord(text))
        {
            error = "the record does not start with v=spf1";
            return false;
        }

        var mechanisms = new List<SpfMechanism>();
        SpfMacroString? redirect = null;
        var sawExplanation = false;
        foreach (var term in text[6..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (ModifierPattern().Match(term) is { Success: true } modifier)
            {
                var name = modifier.Groups["name"].Value;
                var value = modifier.Groups["value"].Value;
                var isRedirect = name.Equals("redirect", StringComparison.OrdinalIgnoreCase);
                var isExplanation = name.Equals("exp", StringComparison.OrdinalIgnoreCase);
                if ((isRedirect && redirect is not null) || (isExplanation && sawExplanation))
                {
                    error = $"the {name}= modifier appears more than once";
                    return false;
                }

                SpfMacroString? spec;
                var parsed = isRedirect || isExplanation
                    ? SpfMacroString.TryParseDomainSpec(value, isExplanation, out spec, out error)
                    : SpfMacroString.TryParse(value, explanation: false, out spec, out error); // unknown modifiers are ignored once valid
                if (!parsed)
                {
                    error = $"{term}: {error}";
                    return false;
                }

                redirect = isRedirect ? spec : redirect;
                sawExplanation |= isExplanation;
                continue;
            }

            if (!TryParseMechanism(term, out var mechanism, out error))
            {
                return false;
            }

            mechanisms.Add(mechanism);
        }

        record = new SpfRecord(mechanisms, redirect);
        error = null;
        return true;
    }

    private static bool TryParseMechanism(string term, [NotNullWhen(true)] out SpfMechanism? mechanism, [NotNullWhen(false)] out string? error)
    {
        mechanism = null;
        var qualifier = term[0] switch
        {
            '+' => SpfResult.Pass,
            '-' => SpfResult.Fail,
            '~' => SpfResult.SoftFail,
            '?' => SpfResult.Neutral,
            _ => (SpfResult?)null,
        };
        var body = qualifier is null ? term : term[1..];
        var nameEnd = body.IndexOfAny([':', '/']);
        var name = (nameEnd < 0 ? body : body[..nameEnd]).ToLowerInvariant();
        var argument = nameEnd < 0 ? "" : body[nameEnd..];
        var result = qualifier ?? SpfResult.Pass;
        error = null;
        switch (name)
        {
            case "all" when argument.Length == 0:
                mechanism = new SpfMechanism(result, SpfMechanismKind.All, null, null, 32, 128, term);
                return true;
            case "include" or "exists":
                if (!argument.StartsWith(':') || !SpfMacroString.TryParseDomainSpec(argument[1..], explanation: false, out var target, out error))
                {
                    break;
                }

                mechanism = new SpfMechanism(result, name == "include" ? SpfMechanismKind.Include : SpfMechanismKind.Exists, target, null, 32, 128, term);
                return true;
            case "a" or "mx" or "ptr":
                return TryParseHostMechanism(term, result, name, argument, out mechanism, out error);
            case "ip4" or "ip6":
                if (!TryParseNetwork(name == "ip4" ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6, argument, out var network, out var prefix))
                {
                    break;
                }

                mechanism = name == "ip4"
                    ? new SpfMechanism(result, SpfMechanismKind.Ip4, null, network, prefix, 128, term)
                    : new SpfMechanism(result, SpfMechanismKind.Ip6, null, network, 32, prefix, term);
                return true;
        }

        error = error is null ? $"'{term}' is not a valid mechanism" : $"{term}: {error}";
        return false;
    }

    /// <summary>a, mx, ptr: an optional ":domain-spec", then (not for ptr) an optional dual-cidr-length "/24//64".</summary>
    private static bool TryParseHostMechanism(string term, SpfResult result, string name, string argument, [NotNullWhen(true)] out SpfMechanism? mechanism, [NotNullWhen(false)] out string? error)
    {
        mechanism = null;
        var split = DualCidrPattern().Match(argument);
        var spec = split.Groups["spec"].Value;
        var ip4 = split.Groups["ip4"];
        var ip6 = split.Groups["ip6"];
        int ip4Prefix = 32, ip6Prefix = 128;
        if ((name == "ptr" && (ip4.Success || ip6.Success))
            || (spec.Length > 0 && !spec.StartsWith(':'))
            || (ip4.Success && !TryParsePrefix(ip4.Value, 32, out ip4Prefix))
            || (ip6.Success && !TryParsePrefix(ip6.Value, 128, out ip6Prefix)))
        {
            error = $"'{term}' is not a valid mechanism";
            return false;
        }

        SpfMacroString? target = null;
        if (spec.Length > 0 && !SpfMacroString.TryParseDomainSpec(spec[1..], explanation: false, out target, out error))
        {
            error = $"{term}: {error}";
            return false;
        }

        var kind = name switch { "a" => SpfMechanismKind.A, "mx" => SpfMechanismKind.Mx, _ => SpfMechanismKind.Ptr };
        mechanism = new SpfMechanism(result, kind, target, null, ip4Prefix, ip6Prefix, term);
        error = null;
        return true;
    }

    /// <summary>":" network ["/" prefix]: ip4 wants a strict dotted quad, ip6 any IPv6 text form without a zone.</summary>
    private static bool TryParseNetwork(AddressFamily family, string argument, [NotNullWhen(true)] out IPAddress? network, out int prefix)
    {
        network = null;
        var maxPrefix = family == AddressFamily.InterNetwork ? 32 : 128;
        prefix = maxPrefix;
        if (!argument.StartsWith(':'))
        {
            return false;
        }

        var text = argument[1..];
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            if (!TryParsePrefix(text[(slash + 1)..], maxPrefix, out prefix))
            {
                return false;
            }

            text = text[..slash];
        }

        if (family == AddressFamily.InterNetwork ? !IsDottedQuad(text) : text.Contains('%', StringComparison.Ordinal))
        {
            return false;
        }

        return IPAddress.TryParse(text, out network) && network.AddressFamily == family;
    }

    /// <summary>Decimal without leading zeros, at most <paramref name="max"/>.</summary>
    private static bool TryParsePrefix(string text, int max, out int prefix)
    {
        prefix = max;
        return text.Length is > 0 and <= 3
            && (text.Length == 1 || text[0] != '0')
            && text.All(char.IsAsciiDigit)
            && (prefix = int.Parse(text, CultureInfo.InvariantCulture)) <= max;
    }

    /// <summary>Four decimal octets without leading zeros; IPAddress.TryParse alone also takes "1", "0x7f.1" and the like.</summary>
    private static bool IsDottedQuad(string text)
    {
        var octets = text.Split('.');
        return octets.Length == 4 && octets.All(octet => TryParsePrefix(octet, 255, out _));
    }

    /// <summary>name "=" macro-string, name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).</summary>
    [GeneratedRegex(@"^(?<name>[A-Za-z][A-Za-z0-9\-_.]*)=(?<value>.*)$", RegexOptions.CultureInvariant)]
    private static partial Regex ModifierPattern();

    /// <summary>The domain-spec may itself hold '/', so the cidr lengths are taken from the end.</summary>
    [GeneratedRegex(@"^(?<spec>.*?)(?:/(?<ip4>[0-9]+))?(?://(?<ip6>[0-9]+))?$", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex DualCidrPattern();
}
