using System.Net;
using System.Net.Sockets;

namespace ManycoreMail.Dns.Spf;

/// <summary>The answer of one check_host() call, before it becomes a verdict.</summary>
internal readonly record struct SpfOutcome(SpfResult Result, string Reason);

/// <summary>One check: the client, the sender and the counters RFC 7208 §4.6.4 puts on the whole evaluation, across
/// includes and redirects. Not thread-safe; made and used by one <see cref="SpfEvaluator.CheckAsync"/> call.</summary>
internal sealed class SpfEvaluation(IDnsResolver resolver, IPAddress client, string sender, string helo, CancellationToken cancellationToken)
{
    public const int MaxDnsTerms = 10;
    public const int MaxVoidLookups = 2;

    /// <summary>§4.6.4: the address lookups one mx or ptr term may cause.</summary>
    public const int MaxNamesPerTerm = 10;

    private readonly int _at = sender.LastIndexOf('@');
    private int _dnsTerms;
    private int _voidLookups;
    private IReadOnlyList<string>? _validatedNames;

    private string LocalPart => sender[.._at];

    private string SenderDomain => sender[(_at + 1)..];

    /// <summary>§4: the policy of <paramref name="domain"/> for the client.</summary>
    public async Task<SpfOutcome> CheckHostAsync(string domain)
    {
        if (!IsMultiLabelDomain(domain))
        {
            return new(SpfResult.None, $"'{domain}' is not a multi-label domain name");
        }

        var txt = await resolver.ResolveTxtAsync(domain, cancellationToken).ConfigureAwait(false);
        if (txt.Status == DnsStatus.TemporaryFailure)
        {
            return new(SpfResult.TempError, $"DNS error looking up the TXT records of {domain}");
        }

        var published = txt.Records.Where(SpfRecord.IsSpfRecord).ToList();
        switch (published.Count)
        {
            case 0:
                return new(SpfResult.None, txt.Status == DnsStatus.NxDomain ? $"{domain} does not exist" : $"{domain} publishes no SPF record");
            case > 1:
                return new(SpfResult.PermError, $"{domain} publishes {published.Count} SPF records");
        }

        if (!SpfRecordParser.TryParse(published[0], out var record, out var syntaxError))
        {
            return new(SpfResult.PermError, $"{domain}: {syntaxError}");
        }

        foreach (var mechanism in record.Mechanisms)
        {
            if (mechanism.QueriesDns && ++_dnsTerms > MaxDnsTerms)
            {
                return new(SpfResult.PermError, $"{domain}: {mechanism.Text}: more than {MaxDnsTerms} DNS-querying terms");
            }

            var match = await MatchAsync(domain, mechanism).ConfigureAwait(false);
            if (match.Error is { } error)
            {
                return error;
            }

            if (match.Matched)
            {
                return new(mechanism.Qualifier, $"{domain}: {mechanism.Text} matched");
            }
        }

        if (record.Redirect is null)
        {
            return new(SpfResult.Neutral, $"{domain}: no mechanism matched");
        }

        if (++_dnsTerms > MaxDnsTerms)
        {
            return new(SpfResult.PermError, $"{domain}: redirect: more than {MaxDnsTerms} DNS-querying terms");
        }

        var target = await ExpandDomainAsync(record.Redirect, domain).ConfigureAwait(false);
        var redirected = await CheckHostAsync(target).ConfigureAwait(false);
        // §6.1: a redirect to a domain without a record, or one that is not a domain, is the publisher's error.
        return redirected.Result == SpfResult.None
            ? new(SpfResult.PermError, $"{domain}: redirect={target}: {redirected.Reason}")
            : redirected;
    }

    private async Task<TermMatch> MatchAsync(string domain, SpfMechanism mechanism)
    {
        switch (mechanism.Kind)
        {
            case SpfMechanismKind.All:
                return TermMatch.Yes;
            case SpfMechanismKind.Ip4 or SpfMechanismKind.Ip6:
                return InNetwork(mechanism.Network!, mechanism) ? TermMatch.Yes : TermMatch.No;
            case SpfMechanismKind.Include:
                return await MatchIncludeAsync(domain, mechanism).ConfigureAwait(false);
        }

        var target = mechanism.Target is null ? domain : await ExpandDomainAsync(mechanism.Target, domain).ConfigureAwait(false);
        return mechanism.Kind switch
        {
            SpfMechanismKind.A => await MatchAddressesAsync(target, client.AddressFamily, mechanism).ConfigureAwait(false),
            SpfMechanismKind.Exists => await MatchAddressesAsync(target, AddressFamily.InterNetwork, mechanism).ConfigureAwait(false),
            SpfMechanismKind.Mx => await MatchMxAsync(target, mechanism).ConfigureAwait(false),
            _ => await MatchPtrAsync(target).ConfigureAwait(false),
        };
    }

    /// <summary>§5.2: only a pass inside is a match; the inner record's errors are the outer record's errors.</summary>
    private async Task<TermMatch> MatchIncludeAsync(string domain, SpfMechanism mechanism)
    {
        var target = await ExpandDomainAsync(mechanism.Target!, domain).ConfigureAwait(false);
        var included = await CheckHostAsync(target).ConfigureAwait(false);
        return included.Result switch
        {
            SpfResult.Pass => TermMatch.Yes,
            SpfResult.Fail or SpfResult.SoftFail or SpfResult.Neutral => TermMatch.No,
            SpfResult.TempError => TermMatch.Failed(included),
            _ => TermMatch.Failed(new(SpfResult.PermError, $"{domain}: {mechanism.Text}: {included.Reason}")),
        };
    }

    /// <summary>a (the client's family) and exists (always A): any address in the network matches.</summary>
    private async Task<TermMatch> MatchAddressesAsync(string target, AddressFamily family, SpfMechanism mechanism)
    {
        var addresses = await resolver.ResolveAddressesAsync(target, family, cancellationToken).ConfigureAwait(false);
        if (LookupFailure(addresses.Status, target, mechanism) is { } failure)
        {
            return failure;
        }

        var exists = mechanism.Kind == SpfMechanismKind.Exists;
        return addresses.Records.Any(address => exists || InNetwork(address, mechanism)) ? TermMatch.Yes : TermMatch.No;
    }

    private async Task<TermMatch> MatchMxAsync(string target, SpfMechanism mechanism)
    {
        var exchanges = await resolver.ResolveMxAsync(target, cancellationToken).ConfigureAwait(false);
        if (LookupFailure(exchanges.Status, target, mechanism) is { } failure)
        {
            return failure;
        }

        if (exchanges.Records.Count > MaxNamesPerTerm)
        {
            return TermMatch.Failed(new(SpfResult.PermError, $"{mechanism.Text}: {target} has {exchanges.Records.Count} MX records, more than {MaxNamesPerTerm}"));
        }

        foreach (var exchange in exchanges.Records.Where(mx => !mx.IsNullMx))
        {
            var addresses = await resolver.ResolveAddressesAsync(exchange.Exchange, client.AddressFamily, cancellationToken).ConfigureAwait(false);
            if (addresses.Status == DnsStatus.TemporaryFailure)
            {
                return TermMatch.Failed(new(SpfResult.TempError, $"{mechanism.Text}: DNS error looking up {exchange.Exchange}"));
            }

            if (addresses.Records.Any(address => InNetwork(address, mechanism)))
            {
                return TermMatch.Yes;
            }
        }

        return TermMatch.No;
    }

    /// <summary>§5.5: the client's validated names (ignoring DNS errors) are tested against the target.</summary>
    private async Task<TermMatch> MatchPtrAsync(string target)
    {
        var names = await ValidatedNamesAsync(countVoid: true).ConfigureAwait(false);
        if (names is null)
        {
            return TermMatch.Failed(new(SpfResult.PermError, $"more than {MaxVoidLookups} void DNS lookups"));
        }

        return names.Any(name => IsSameOrSubdomain(name, target)) ? TermMatch.Yes : TermMatch.No;
    }

    /// <summary>The names the client's PTR records give whose addresses include the client, the first 10 tried;
    /// null when an empty PTR answer went over the void lookup limit.</summary>
    private async Task<IReadOnlyList<string>?> ValidatedNamesAsync(bool countVoid)
    {
        if (_validatedNames is not null)
        {
            return _validatedNames;
        }

        var pointers = await resolver.ResolvePtrAsync(client, cancellationToken).ConfigureAwait(false);
        if (countVoid && pointers.Status is DnsStatus.NoData or DnsStatus.NxDomain && ++_voidLookups > MaxVoidLookups)
        {
            return null;
        }

        var validated = new List<string>();
        foreach (var name in pointers.Records.Take(MaxNamesPerTerm))
        {
            var addresses = await resolver.ResolveAddressesAsync(name, client.AddressFamily, cancellationToken).ConfigureAwait(false);
            if (addresses.Records.Contains(client))
            {
                validated.Add(name.TrimEnd('.').ToLowerInvariant());
            }
        }

        return _validatedNames = validated;
    }

    /// <summary>Expands a domain-spec and trims it to a DNS name's length by dropping labels on the left (§7.3).</summary>
    private async Task<string> ExpandDomainAsync(SpfMacroString spec, string domain)
    {
        string? validatedName = null;
        if (spec.UsesValidatedName)
        {
            // §7.3 prefers a validated name equal to, then below, the domain; any other is still better than none.
            var names = await ValidatedNamesAsync(countVoid: false).ConfigureAwait(false) ?? [];
            validatedName = names.FirstOrDefault(name => name.Equals(domain, StringComparison.OrdinalIgnoreCase))
                ?? names.FirstOrDefault(name => IsSameOrSubdomain(name, domain))
                ?? names.FirstOrDefault();
        }

        var context = new SpfMacroContext(sender, LocalPart, SenderDomain, domain, client, helo, validatedName);
        var expanded = spec.Expand(context).TrimEnd('.');
        while (expanded.Length > DnsName.MaxLength && expanded.IndexOf('.', StringComparison.Ordinal) is var dot and >= 0)
        {
            expanded = expanded[(dot + 1)..];
        }

        return expanded;
    }

    /// <summary>temperror for DNS trouble; a void lookup (no records, no domain) counted, permerror past the limit.</summary>
    private TermMatch? LookupFailure(DnsStatus status, string target, SpfMechanism mechanism)
    {
        if (status == DnsStatus.TemporaryFailure)
        {
            return TermMatch.Failed(new(SpfResult.TempError, $"{mechanism.Text}: DNS error looking up {target}"));
        }

        if (status is DnsStatus.NoData or DnsStatus.NxDomain && ++_voidLookups > MaxVoidLookups)
        {
            return TermMatch.Failed(new(SpfResult.PermError, $"{mechanism.Text}: more than {MaxVoidLookups} void DNS lookups"));
        }

        return null;
    }

    private bool InNetwork(IPAddress network, SpfMechanism mechanism)
    {
        if (network.AddressFamily != client.AddressFamily)
        {
            return false;
        }

        var prefix = client.AddressFamily == AddressFamily.InterNetwork ? mechanism.Ip4Prefix : mechanism.Ip6Prefix;
        return new IPNetwork(Masked(network, prefix), prefix).Contains(client);
    }

    /// <summary>The network's address with the host bits cleared, as <see cref="IPNetwork"/> requires (a record may
    /// well say ip4:192.0.2.1/24).</summary>
    private static IPAddress Masked(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        for (var bit = prefix; bit < bytes.Length * 8; bit++)
        {
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }

        return new IPAddress(bytes);
    }

    private static bool IsSameOrSubdomain(string name, string domain) =>
        name.Equals(domain, StringComparison.OrdinalIgnoreCase)
        || name.EndsWith("." + domain.TrimEnd('.'), StringComparison.OrdinalIgnoreCase);

    /// <summary>§4.3: a name of at least two labels that the DNS can hold, ending in a top-level label (so neither an
    /// address literal nor a dotted quad).</summary>
    internal static bool IsMultiLabelDomain(string domain) =>
        DnsName.TryNormalize(domain, out var normalized) && SpfMacroString.EndsWithTopLabel(normalized);

    /// <summary>A term either matched, did not, or ended the whole evaluation with an error result.</summary>
    private readonly record struct TermMatch(bool Matched, SpfOutcome? Error)
    {
        public static TermMatch Yes => new(true, null);

        public static TermMatch No => new(false, null);

        public static TermMatch Failed(SpfOutcome error) => new(false, error);
    }
}
