using System.Net;
using ManycoreMail.Config;
using ManycoreMail.Dkim;
using ManycoreMail.Dns;
using ManycoreMail.Dns.Spf;

namespace ManycoreMail.Cli;

/// <summary>One address mail leaves from and the name it says in HELO: receivers check SPF and PTR against the pair.</summary>
/// <param name="SourceAddress">null when the kernel chooses (then SPF and PTR cannot be checked).</param>
internal sealed record SendingIdentity(IPAddress? SourceAddress, string HeloName);

/// <summary>What <c>mailer dns check</c> compares DNS with: the sending domains, every sending identity, the
/// domains the MX server receives for besides the return-path domains (<c>mxserver/domains</c>), and the SRS domain of
/// forwarded mail.</summary>
/// <param name="HeloName"><c>sender/helo-name</c>: the name the return-path MX records should point at.</param>
/// <param name="MxAddress">The MX server's bind address when it is a specific one, else null.</param>
/// <param name="SrsDomain"><c>mxserver/forwarding/srs-domain</c> when forwarding is on and the domain is checked, else null.</param>
internal sealed record DnsCheckSetup(IReadOnlyList<DomainSettings> Domains, string HeloName, IReadOnlyList<SendingIdentity> Identities,
    IReadOnlyList<string> ExtraMxDomains, IPAddress? MxAddress, string? SrsDomain = null)
{
    /// <summary>The (source address, HELO name) pairs the sender uses, built in this one place: every source of
    /// <c>sender/egress-pools</c> (its HELO name, else <c>sender/helo-name</c>), or without pools
    /// <c>sender/source-address</c> with <c>sender/helo-name</c>.</summary>
    public static IReadOnlyList<SendingIdentity> IdentitiesOf(MailerOptions options)
    {
        var helo = options.Sender.HeloName;
        if (options.Sender.Delivery.Egress is not { IsImplicit: false } egress)
        {
            return [new SendingIdentity(options.Sender.Delivery.SourceAddress, helo)];
        }
        return egress.Pools.SelectMany(pool => pool.Sources)
            .Select(source => new SendingIdentity(source.Address, source.HeloName ?? helo))
            .Distinct()
            .ToArray();
    }
}

/// <summary>Checks the records receivers look at for each sending domain: DKIM key, SPF, DMARC, the return-path MX,
/// and the sending address's PTR and forward lookup against the HELO name.</summary>
internal sealed class DnsChecker(IDnsResolver resolver, ISpfChecker spf)
{
    public async Task<IReadOnlyList<DnsCheckRow>> CheckAsync(DnsCheckSetup setup, CancellationToken cancellationToken)
    {
        var rows = new List<DnsCheckRow>();
        foreach (var domain in setup.Domains)
        {
            foreach (var key in domain.DkimKeys)
            {
                rows.Add(await CheckDkimAsync(domain, key, cancellationToken).ConfigureAwait(false));
            }
            foreach (var identity in setup.Identities)
            {
                rows.Add(await CheckSpfAsync(domain.ReturnPathDomain, identity, cancellationToken).ConfigureAwait(false));
            }
            rows.Add(await CheckDmarcAsync(domain.Domain, cancellationToken).ConfigureAwait(false));
            rows.Add(await CheckMxAsync(domain.ReturnPathDomain, setup, cancellationToken).ConfigureAwait(false));
        }
        // mxserver/domains: the MX server takes bounces and feedback for these too: their MX must reach it as the return paths' do.
        foreach (var domain in setup.ExtraMxDomains)
        {
            rows.Add(await CheckMxAsync(domain, setup, cancellationToken).ConfigureAwait(false));
        }
        // Forwarded mail leaves with an SRS return path on this domain: receivers check its SPF against our sources, and
        // bounces to those addresses must come back to our MX server to be unwrapped.
        if (setup.SrsDomain is { } srs)
        {
            foreach (var identity in setup.Identities)
            {
                rows.Add(await CheckSpfAsync(srs, identity, cancellationToken).ConfigureAwait(false));
            }
            if (!setup.ExtraMxDomains.Contains(srs, StringComparer.OrdinalIgnoreCase))
            {
                rows.Add(await CheckMxAsync(srs, setup, cancellationToken).ConfigureAwait(false));
            }
        }
        foreach (var identity in setup.Identities)
        {
            rows.Add(await CheckPtrAsync(identity, cancellationToken).ConfigureAwait(false));
        }
        return rows;
    }

    /// <summary>One row per configured key of the domain (the main one, then extra-dkim-keys).</summary>
    private async Task<DnsCheckRow> CheckDkimAsync(DomainSettings domain, DkimKeySettings configured, CancellationToken cancellationToken)
    {
        const string check = "dkim";
        var name = DkimTxtRecord.Name(configured.Selector, domain.Domain);
        DkimSigningKey key;
        try
        {
            key = DkimSigningKey.Load(domain.Domain, configured.Selector, await File.ReadAllTextAsync(configured.PrivateKeyFile, cancellationToken).ConfigureAwait(false));
        }
        catch (Exception e) when (e is DkimKeyException or IOException or UnauthorizedAccessException)
        {
            return DnsCheckRow.Fail(check, domain.Domain,
                $"cannot read {configured.PrivateKeyFile}: {e.Message} Create one with: mailer dkim keygen {domain.Domain} --selector {configured.Selector}");
        }
        var publish = "publish: " + DkimTxtRecord.ZoneLine(key);
        var txt = await resolver.ResolveTxtAsync(name, cancellationToken).ConfigureAwait(false);
        if (txt.Status == DnsStatus.TemporaryFailure)
        {
            return DnsCheckRow.Fail(check, domain.Domain, $"DNS error looking up TXT {name}; try again");
        }
        var records = txt.Records.Where(r => r.Contains("p=", StringComparison.Ordinal)).ToArray();
        if (records.Length == 0)
        {
            return DnsCheckRow.Fail(check, domain.Domain, $"no DKIM key record at {name}; {publish}");
        }
        if (records.Length > 1)
        {
            return DnsCheckRow.Fail(check, domain.Domain, $"{records.Length} TXT records at {name}, receivers need exactly one; keep only: {DkimTxtRecord.ZoneLine(key)}");
        }
        if (!DkimKeyRecord.TryParse(records[0], out var record, out var problem))
        {
            return DnsCheckRow.Fail(check, domain.Domain, $"the record at {name} does not parse ({problem}); {publish}");
        }
        if (!key.IsPublishedBy(record))
        {
            return DnsCheckRow.Fail(check, domain.Domain, $"the key at {name} is not the public half of {configured.PrivateKeyFile}; {publish}");
        }
        return DnsCheckRow.Ok(check, domain.Domain, $"{name} holds the key of {configured.PrivateKeyFile}");
    }

    /// <summary>Receivers evaluate SPF for the MAIL FROM, which is on the return-path domain.</summary>
    private async Task<DnsCheckRow> CheckSpfAsync(string domain, SendingIdentity setup, CancellationToken cancellationToken)
    {
        const string check = "spf";
        var mechanism = setup.SourceAddress is { } address
            ? (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "ip6:" : "ip4:") + address
            : "a:" + setup.HeloName;
        var publish = $"publish: {domain}. IN TXT \"v=spf1 {mechanism} -all\"";
        var txt = await resolver.ResolveTxtAsync(domain, cancellationToken).ConfigureAwait(false);
        if (txt.Status == DnsStatus.TemporaryFailure)
        {
            return DnsCheckRow.Fail(check, domain, $"DNS error looking up TXT {domain}; try again");
        }
        var records = txt.Records.Where(IsSpf).ToArray();
        if (records.Length == 0)
        {
            return DnsCheckRow.Fail(check, domain, $"no SPF record; {publish}");
        }
        if (records.Length > 1)
        {
            return DnsCheckRow.Fail(check, domain, $"{records.Length} SPF records (a permerror for receivers); merge them into one");
        }
        if (setup.SourceAddress is not { } source)
        {
            return DnsCheckRow.Warn(check, domain, $"SPF record exists, but no sender/source-address is configured, so which address it must allow is unknown: \"{records[0]}\"");
        }
        var verdict = await spf.CheckAsync(source, setup.HeloName, "postmaster@" + domain, cancellationToken).ConfigureAwait(false);
        return verdict.Result == SpfResult.Pass
            ? DnsCheckRow.Ok(check, domain, $"pass for {source}")
            : DnsCheckRow.Fail(check, domain, $"{verdict.Result.ToString().ToLowerInvariant()} for {source} ({verdict.Reason}); add {mechanism} before the all: \"{records[0]}\"");
    }

    private static bool IsSpf(string txt) =>
        txt.Equals("v=spf1", StringComparison.OrdinalIgnoreCase) || txt.StartsWith("v=spf1 ", StringComparison.OrdinalIgnoreCase);

    private async Task<DnsCheckRow> CheckDmarcAsync(string domain, CancellationToken cancellationToken)
    {
        const string check = "dmarc";
        var name = "_dmarc." + domain;
        var publish = $"publish: {name}. IN TXT \"v=DMARC1; p=none; rua=mailto:postmaster@{domain}\" (then p=quarantine or p=reject once reports are clean)";
        var txt = await resolver.ResolveTxtAsync(name, cancellationToken).ConfigureAwait(false);
        if (txt.Status == DnsStatus.TemporaryFailure)
        {
            return DnsCheckRow.Fail(check, domain, $"DNS error looking up TXT {name}; try again");
        }
        var records = txt.Records.Where(r => r.StartsWith("v=DMARC1", StringComparison.OrdinalIgnoreCase)).ToArray();
        if (records.Length == 0)
        {
            return DnsCheckRow.Fail(check, domain, $"no DMARC record at {name}; {publish}");
        }
        if (records.Length > 1)
        {
            return DnsCheckRow.Fail(check, domain, $"{records.Length} DMARC records at {name} (receivers then ignore them); keep one");
        }
        return DmarcPolicy(records[0]) is { } policy
            ? DnsCheckRow.Ok(check, domain, $"p={policy}")
            : DnsCheckRow.Fail(check, domain, $"\"{records[0]}\" does not parse: RFC 7489 needs v=DMARC1 then p=none, quarantine or reject; {publish}");
    }

    /// <summary>RFC 7489 §6.4: v=DMARC1 first, p= next with a known policy.</summary>
    private static string? DmarcPolicy(string record)
    {
        var tags = record.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(tag => tag.Split('=', 2, StringSplitOptions.TrimEntries))
            .ToArray();
        if (tags.Length < 2 || tags.Any(t => t.Length != 2) || !tags[0][1].Equals("DMARC1", StringComparison.Ordinal)
            || !tags[1][0].Equals("p", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        var policy = tags[1][1].ToLowerInvariant();
        return policy is "none" or "quarantine" or "reject" ? policy : null;
    }

    /// <summary>Bounces and feedback come back to the return-path domain: its MX must reach our MX server, known by the
    /// HELO name or by the MX server's bind address.</summary>
    private async Task<DnsCheckRow> CheckMxAsync(string domain, DnsCheckSetup setup, CancellationToken cancellationToken)
    {
        const string check = "mx";
        var publish = $"publish: {domain}. IN MX 10 {setup.HeloName}.";
        var mx = await resolver.ResolveMxAsync(domain, cancellationToken).ConfigureAwait(false);
        if (mx.Status == DnsStatus.TemporaryFailure)
        {
            return DnsCheckRow.Fail(check, domain, $"DNS error looking up MX {domain}; try again");
        }
        if (mx.Records.Count == 0)
        {
            return DnsCheckRow.Fail(check, domain, $"no MX record, so bounces to the return path do not reach the MX server; {publish}");
        }
        foreach (var record in mx.Records.Where(r => !r.IsNullMx))
        {
            if (string.Equals(record.Exchange, setup.HeloName.TrimEnd('.'), StringComparison.OrdinalIgnoreCase))
            {
                return DnsCheckRow.Ok(check, domain, $"MX {record.Preference} {record.Exchange}");
            }
            if (setup.MxAddress is { } expected)
            {
                var addresses = await resolver.ResolveAddressesAsync(record.Exchange, cancellationToken).ConfigureAwait(false);
                if (addresses.Records.Contains(expected))
                {
                    return DnsCheckRow.Ok(check, domain, $"MX {record.Preference} {record.Exchange} ({expected})");
                }
            }
        }
        var found = string.Join(", ", mx.Records.Select(r => r.IsNullMx ? "null MX" : r.Exchange));
        var expectedText = setup.MxAddress is { } mxAddress ? $"{setup.HeloName} or a host at {mxAddress}" : setup.HeloName;
        return DnsCheckRow.Fail(check, domain, $"MX points at {found}, not at the MX server ({expectedText}); {publish}");
    }

    /// <summary>Receivers compare the connecting address's PTR, and that name's addresses, with the HELO name.</summary>
    private async Task<DnsCheckRow> CheckPtrAsync(SendingIdentity setup, CancellationToken cancellationToken)
    {
        const string check = "ptr";
        var helo = setup.HeloName.TrimEnd('.');
        if (setup.SourceAddress is not { } source)
        {
            return DnsCheckRow.Warn(check, helo, "no sender/source-address is configured, so the sending address is the kernel's choice: set it to check PTR and forward lookup");
        }
        var ptr = await resolver.ResolvePtrAsync(source, cancellationToken).ConfigureAwait(false);
        if (ptr.Status == DnsStatus.TemporaryFailure)
        {
            return DnsCheckRow.Fail(check, helo, $"DNS error looking up the PTR of {source}; try again");
        }
        if (!ptr.Records.Contains(helo, StringComparer.OrdinalIgnoreCase))
        {
            var found = ptr.Records.Count == 0 ? "no PTR" : "PTR " + string.Join(", ", ptr.Records);
            return DnsCheckRow.Fail(check, helo, $"{source} has {found}, not the HELO name {helo}: ask the address's provider to set its PTR to {helo}. (or set sender/helo-name to it)");
        }
        var forward = await resolver.ResolveAddressesAsync(helo, cancellationToken).ConfigureAwait(false);
        if (!forward.Records.Contains(source))
        {
            var type = source.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "AAAA" : "A";
            return DnsCheckRow.Fail(check, helo, $"PTR of {source} is {helo}, but {helo} does not resolve to {source}; publish: {helo}. IN {type} {source}");
        }
        return DnsCheckRow.Ok(check, helo, $"{source} <-> {helo}");
    }
}
