using System.Net;
using System.Net.Sockets;

namespace ManycoreMail.Dns.Tests;

/// <summary>An in-memory zone written as lines "name TYPE data" (TXT, A, AAAA, MX "pref host", PTR, and the pseudo
/// types TEMPFAIL: every question about the name fails, HANG: every question waits for cancellation). A name with
/// lines but none of the asked type is NODATA; a name without lines is NXDOMAIN.</summary>
internal sealed class SpfFakeZone : IDnsResolver
{
    private readonly Dictionary<string, List<(string Type, string Data)>> _names = new(StringComparer.OrdinalIgnoreCase);

    public SpfFakeZone(params IEnumerable<string> lines)
    {
        foreach (var line in lines)
        {
            var parts = line.Split(' ', 3);
            var name = parts[0].TrimEnd('.');
            if (!_names.TryGetValue(name, out var records))
            {
                _names[name] = records = [];
            }

            records.Add((parts[1].ToUpperInvariant(), parts.Length > 2 ? parts[2] : ""));
        }
    }

    public ValueTask<DnsResult<MxRecord>> ResolveMxAsync(string domain, CancellationToken cancellationToken) =>
        LookupAsync(domain, "MX", data => new MxRecord(ushort.Parse(data.Split(' ')[0]), data.Split(' ')[1].TrimEnd('.').ToLowerInvariant()), cancellationToken);

    public async ValueTask<DnsResult<IPAddress>> ResolveAddressesAsync(string host, CancellationToken cancellationToken)
    {
        var a = await ResolveAddressesAsync(host, AddressFamily.InterNetwork, cancellationToken);
        var aaaa = await ResolveAddressesAsync(host, AddressFamily.InterNetworkV6, cancellationToken);
        return DnsResolver.CombineAddresses(a, aaaa);
    }

    public ValueTask<DnsResult<IPAddress>> ResolveAddressesAsync(string host, AddressFamily family, CancellationToken cancellationToken) =>
        LookupAsync(host, family == AddressFamily.InterNetwork ? "A" : "AAAA", IPAddress.Parse, cancellationToken);

    public ValueTask<DnsResult<string>> ResolveTxtAsync(string name, CancellationToken cancellationToken) =>
        LookupAsync(name, "TXT", data => data, cancellationToken);

    public ValueTask<DnsResult<string>> ResolvePtrAsync(IPAddress address, CancellationToken cancellationToken) =>
        LookupAsync(DnsName.ReverseLookupName(address), "PTR", data => data.TrimEnd('.'), cancellationToken);

    private async ValueTask<DnsResult<T>> LookupAsync<T>(string name, string type, Func<string, T> parse, CancellationToken cancellationToken)
    {
        if (!_names.TryGetValue(name.TrimEnd('.'), out var records))
        {
            return new(DnsStatus.NxDomain, []);
        }

        if (records.Any(record => record.Type == "HANG"))
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        if (records.Any(record => record.Type == "TEMPFAIL"))
        {
            return new(DnsStatus.TemporaryFailure, []);
        }

        var found = records.Where(record => record.Type == type).Select(record => parse(record.Data)).ToList();
        return new(found.Count > 0 ? DnsStatus.Ok : DnsStatus.NoData, found);
    }
}
