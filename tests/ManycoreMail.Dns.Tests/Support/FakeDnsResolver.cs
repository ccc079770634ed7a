using System.Net;

namespace ManycoreMail.Dns.Tests.Support;

/// <summary>Answers from dictionaries; names not listed are NXDOMAIN. Records the names it was asked for.</summary>
internal sealed class FakeDnsResolver : IDnsResolver
{
    public Dictionary<string, DnsResult<MxRecord>> Mx { get; } = [];

    public Dictionary<string, DnsResult<IPAddress>> Addresses { get; } = [];

    public List<string> Asked { get; } = [];

    public static DnsResult<T> Ok<T>(params T[] records) => new(DnsStatus.Ok, records);

    public static DnsResult<T> Status<T>(DnsStatus status) => new(status, []);

    public ValueTask<DnsResult<MxRecord>> ResolveMxAsync(string domain, CancellationToken cancellationToken)
    {
        lock (Asked)
        {
            Asked.Add("MX " + domain);
        }

        return ValueTask.FromResult(Mx.GetValueOrDefault(domain, Status<MxRecord>(DnsStatus.NxDomain)));
    }

    public ValueTask<DnsResult<IPAddress>> ResolveAddressesAsync(string host, CancellationToken cancellationToken)
    {
        lock (Asked)
        {
            Asked.Add("A " + host);
        }

        return ValueTask.FromResult(Addresses.GetValueOrDefault(host, Status<IPAddress>(DnsStatus.NxDomain)));
    }

    public ValueTask<DnsResult<string>> ResolveTxtAsync(string name, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Status<string>(DnsStatus.NxDomain));
}
