namespace ManycoreMail.Roles.MxServer;

/// <summary>One configured alias: an address (<c>info@alias.example</c>) or a whole domain (<c>@alias.example</c>)
/// and the real recipients its mail is forwarded to.</summary>
internal sealed record AliasEntry(string Alias, IReadOnlyList<string> Targets)
{
    public bool IsDomain => Alias.StartsWith('@');
}

/// <summary>
/// The alias table: an exact address wins over its domain's catch-all. Matching ignores case in the local part
/// too (mailbox names are case-insensitive in practice, and a case trick must not bypass an alias). The targets
/// are taken as configured, never expanded again: an alias pointing at another alias is forwarded to it by
/// mail, where the loop check applies.
/// </summary>
internal sealed class AliasTable
{
    private readonly Dictionary<string, IReadOnlyList<string>> _addresses = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, IReadOnlyList<string>> _domains = new(StringComparer.OrdinalIgnoreCase);

    public AliasTable(IEnumerable<AliasEntry> entries)
    {
        foreach (var entry in entries)
        {
            if (entry.IsDomain)
            {
                _domains[entry.Alias[1..]] = entry.Targets;
            }
            else
            {
                _addresses[entry.Alias] = entry.Targets;
                _domains.TryAdd(DomainOf(entry.Alias), []);
            }
        }
    }

    /// <summary>Every domain with an alias: the MX server accepts these (for their aliases only).</summary>
    public IReadOnlyCollection<string> Domains => _domains.Keys;

    public int Count => _addresses.Count + _domains.Values.Count(t => t.Count > 0);

    public bool IsAliasDomain(string domain) => _domains.ContainsKey(domain);

    /// <summary>The real recipients of <paramref name="local"/>@<paramref name="domain"/>, if it is an alias.</summary>
    public bool TryResolve(string local, string domain, out IReadOnlyList<string> targets)
    {
        if (_addresses.TryGetValue(local + "@" + domain, out targets!))
        {
            return true;
        }
        return _domains.TryGetValue(domain, out targets!) && targets.Count > 0;
    }

    private static string DomainOf(string address) => address[(address.LastIndexOf('@') + 1)..];
}
