using System.Net;

namespace ManycoreMail.Dns;

/// <summary>Async stub resolver: UDP with TCP fallback on truncation, TTL cache with negative caching.</summary>
public sealed class DnsResolver(DnsResolverOptions options, TimeProvider timeProvider) : IDnsResolver, IDisposable
{
    public ValueTask<DnsResult<MxRecord>> ResolveMxAsync(string domain, CancellationToken cancellationToken) => throw new NotImplementedException();
    public ValueTask<DnsResult<IPAddress>> ResolveAddressesAsync(string host, CancellationToken cancellationToken) => throw new NotImplementedException();
    public ValueTask<DnsResult<string>> ResolveTxtAsync(string name, CancellationToken cancellationToken) => throw new NotImplementedException();
    public void Dispose() => throw new NotImplementedException();
}
