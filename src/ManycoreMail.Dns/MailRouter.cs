using System.Net;

namespace ManycoreMail.Dns;

/// <summary>Turns a recipient domain into the ordered list of hosts to try: MX by preference (equal
/// preferences shuffled), the domain's own A/AAAA when it has no MX, Null MX and NXDOMAIN as final answers.</summary>
/// <remarks>Thread-safe; the <see cref="Random"/> given is only used under a lock, so a seeded one stays
/// reproducible in tests.</remarks>
public sealed class MailRouter(IDnsResolver resolver, Random? random = null)
{
    /// <summary>MX hosts whose addresses are looked up; more than this are dropped after sorting (a domain listing
    /// hundreds of exchanges would otherwise turn one recipient into hundreds of queries).</summary>
    public const int MaxMailHosts = 16;

    private readonly IDnsResolver _resolver = resolver ?? throw new ArgumentNullException(nameof(resolver));
    private readonly Random _random = random ?? Random.Shared;
    private readonly Lock _randomLock = new();

    public async ValueTask<MailRoute> ResolveAsync(string domain, CancellationToken cancellationToken)
    {
        if (!DnsName.TryNormalize(domain, out var name))
        {
            return new MailRoute(MailRouteStatus.NoSuchDomain, [], $"'{domain}' is not a valid domain name");
        }

        var mx = await _resolver.ResolveMxAsync(name, cancellationToken).ConfigureAwait(false);
        switch (mx.Status)
        {
            case DnsStatus.NxDomain:
                return new MailRoute(MailRouteStatus.NoSuchDomain, [], $"domain {name} does not exist (NXDOMAIN)");
            case DnsStatus.TemporaryFailure:
                return new MailRoute(MailRouteStatus.TemporaryFailure, [], $"MX lookup for {name} failed temporarily (DNS timeout or server failure)");
            case DnsStatus.Ok when mx.Records.Count > 0:
                return await RouteByMxAsync(name, mx.Records, cancellationToken).ConfigureAwait(false);
            default:
                return await RouteImplicitlyAsync(name, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>RFC 5321 §5.1: without MX records the domain itself is the one host, at preference 0.</summary>
    private async ValueTask<MailRoute> RouteImplicitlyAsync(string name, CancellationToken cancellationToken)
    {
        var addresses = await _resolver.ResolveAddressesAsync(name, cancellationToken).ConfigureAwait(false);
        return addresses.Status switch
        {
            DnsStatus.Ok => new MailRoute(MailRouteStatus.Ok, [new MailHost(name, 0, addresses.Records)], $"domain {name} has no MX records; delivering to its own address (implicit MX)"),
            DnsStatus.NxDomain => new MailRoute(MailRouteStatus.NoSuchDomain, [], $"domain {name} does not exist (NXDOMAIN)"),
            DnsStatus.TemporaryFailure => new MailRoute(MailRouteStatus.TemporaryFailure, [], $"domain {name} has no MX records and its address lookup failed temporarily"),
            _ => new MailRoute(MailRouteStatus.NoSuchDomain, [], $"domain {name} has neither MX nor A/AAAA records"),
        };
    }

    private async ValueTask<MailRoute> RouteByMxAsync(string name, IReadOnlyList<MxRecord> records, CancellationToken cancellationToken)
    {
        if (records.All(r => r.IsNullMx))
        {
            // RFC 7505: "." as the only exchange says the domain takes no mail at all.
            return new MailRoute(MailRouteStatus.NullMx, [], $"domain {name} does not accept mail (Null MX, RFC 7505)");
        }

        var exchanges = Order(records);
        if (exchanges.Count == 0)
        {
            return new MailRoute(MailRouteStatus.NoSuchDomain, [], $"no MX record of {name} names a usable host");
        }

        var lookups = new Task<DnsResult<IPAddress>>[exchanges.Count];
        for (var i = 0; i < exchanges.Count; i++)
        {
            lookups[i] = _resolver.ResolveAddressesAsync(exchanges[i].Exchange, cancellationToken).AsTask();
        }

        await Task.WhenAll(lookups).ConfigureAwait(false);

        var hosts = new List<MailHost>(exchanges.Count);
        var failed = new List<string>();
        var temporaryFailures = 0;
        for (var i = 0; i < exchanges.Count; i++)
        {
            var addresses = lookups[i].Result;
            if (addresses.IsOk)
            {
                hosts.Add(new MailHost(exchanges[i].Exchange, exchanges[i].Preference, addresses.Records));
                continue;
            }

            failed.Add(addresses.Status == DnsStatus.TemporaryFailure
                ? $"{exchanges[i].Exchange} (lookup failed temporarily)"
                : $"{exchanges[i].Exchange} (no address)");
            if (addresses.Status == DnsStatus.TemporaryFailure)
            {
                temporaryFailures++;
            }
        }

        var skipped = string.Join(", ", failed);
        if (hosts.Count > 0)
        {
            var detail = $"MX for {name}: {string.Join(", ", hosts.Select(h => $"{h.Name} ({h.Preference})"))}";
            return new MailRoute(MailRouteStatus.Ok, hosts, failed.Count == 0 ? detail : $"{detail}; skipped {skipped}");
        }

        // A host that may answer later is worth waiting for; only when every one is known to have no address is
        // the domain unreachable for good.
        return temporaryFailures > 0
            ? new MailRoute(MailRouteStatus.TemporaryFailure, [], $"no MX host of {name} could be resolved: {skipped}")
            : new MailRoute(MailRouteStatus.NoSuchDomain, [], $"no MX host of {name} has an address: {skipped}");
    }

    /// <summary>Sorted by preference, equal preferences shuffled (RFC 5321 §5.1), Null MX entries and repeated
    /// hosts dropped, at most <see cref="MaxMailHosts"/>.</summary>
    private List<MxRecord> Order(IReadOnlyList<MxRecord> records)
    {
        var sorted = records.Where(r => !r.IsNullMx).OrderBy(r => r.Preference).ToArray();
        lock (_randomLock)
        {
            for (var start = 0; start < sorted.Length;)
            {
                var end = start + 1;
                while (end < sorted.Length && sorted[end].Preference == sorted[start].Preference)
                {
                    end++;
                }

                _random.Shuffle(sorted.AsSpan(start, end - start));
                start = end;
            }
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var ordered = new List<MxRecord>(Math.Min(sorted.Length, MaxMailHosts));
        foreach (var record in sorted)
        {
            if (ordered.Count < MaxMailHosts && DnsName.TryNormalize(record.Exchange, out var exchange) && seen.Add(exchange))
            {
                ordered.Add(record with { Exchange = exchange });
            }
        }

        return ordered;
    }
}
