using System.Net;
using System.Net.Sockets;
using ManycoreMail.Dns.Transport;
using ManycoreMail.Dns.Wire;

namespace ManycoreMail.Dns;

/// <summary>Async stub resolver: UDP with TCP fallback on truncation, TTL cache with negative caching.</summary>
/// <remarks>Names are normalised with <see cref="DnsName.TryNormalize"/> first; a name that cannot exist in the DNS
/// (empty label, too long, IDN that does not map) is answered <see cref="DnsStatus.NxDomain"/> without a query.
/// Thread-safe. The <see cref="TimeProvider"/> drives cache expiry; socket timeouts are wall-clock.</remarks>
public sealed class DnsResolver : IDnsResolver, IDisposable
{
    private readonly DnsClient _client;
    private readonly DnsRecordCache<MxRecord> _mx;
    private readonly DnsRecordCache<IPAddress> _addresses;
    private readonly DnsRecordCache<string> _txt;
    private readonly DnsRecordCache<string> _ptr;
    private readonly DnsRecordCache<TlsaRecord> _tlsa;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Func<string, DnsRecordType, CancellationToken, Task<DnsAnswer<MxRecord>>> _lookupMx;
    private readonly Func<string, DnsRecordType, CancellationToken, Task<DnsAnswer<IPAddress>>> _lookupAddresses;
    private readonly Func<string, DnsRecordType, CancellationToken, Task<DnsAnswer<string>>> _lookupTxt;
    private readonly Func<string, DnsRecordType, CancellationToken, Task<DnsAnswer<string>>> _lookupPtr;
    private readonly Func<string, DnsRecordType, CancellationToken, Task<DnsAnswer<TlsaRecord>>> _lookupTlsa;

    public DnsResolver(DnsResolverOptions options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        if (options.Servers is null || options.Servers.Count == 0)
        {
            throw new ArgumentException("At least one DNS server is needed.", nameof(options));
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.Timeout, TimeSpan.Zero, nameof(options.Timeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Attempts, 1, nameof(options.Attempts));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxCacheTtl, TimeSpan.Zero, nameof(options.MaxCacheTtl));

        _client = new DnsClient(options);
        _mx = new DnsRecordCache<MxRecord>(timeProvider, options.MaxCacheEntries);
        _addresses = new DnsRecordCache<IPAddress>(timeProvider, options.MaxCacheEntries);
        _txt = new DnsRecordCache<string>(timeProvider, options.MaxCacheEntries);
        _ptr = new DnsRecordCache<string>(timeProvider, options.MaxCacheEntries);
        _tlsa = new DnsRecordCache<TlsaRecord>(timeProvider, options.MaxCacheEntries);
        _lookupMx = (name, type, token) => _client.QueryAsync<MxRecord>(name, type, DnsRecordDecoders.TryDecodeMx, token);
        _lookupAddresses = (name, type, token) => type == DnsRecordType.A
            ? _client.QueryAsync<IPAddress>(name, type, DnsRecordDecoders.TryDecodeA, token)
            : _client.QueryAsync<IPAddress>(name, type, DnsRecordDecoders.TryDecodeAaaa, token);
        _lookupTxt = (name, type, token) => _client.QueryAsync<string>(name, type, DnsRecordDecoders.TryDecodeTxt, token);
        _lookupPtr = (name, type, token) => _client.QueryAsync<string>(name, type, DnsRecordDecoders.TryDecodePtr, token);
        _lookupTlsa = (name, type, token) => _client.QueryAsync<TlsaRecord>(name, type, DnsRecordDecoders.TryDecodeTlsa, token);
    }

    /// <summary>A resolver on the system clock.</summary>
    public DnsResolver(DnsResolverOptions options)
        : this(options, TimeProvider.System)
    {
    }

    public ValueTask<DnsResult<MxRecord>> ResolveMxAsync(string domain, CancellationToken cancellationToken) =>
        DnsName.TryNormalize(domain, out var name)
            ? _mx.GetOrLookupAsync(name, DnsRecordType.Mx, _lookupMx, Lifetime, cancellationToken)
            : ValueTask.FromResult(new DnsResult<MxRecord>(DnsStatus.NxDomain, []));

    public ValueTask<DnsResult<string>> ResolveTxtAsync(string name, CancellationToken cancellationToken) =>
        DnsName.TryNormalize(name, out var normalized)
            ? _txt.GetOrLookupAsync(normalized, DnsRecordType.Txt, _lookupTxt, Lifetime, cancellationToken)
            : ValueTask.FromResult(new DnsResult<string>(DnsStatus.NxDomain, []));

    public ValueTask<DnsResult<IPAddress>> ResolveAddressesAsync(string host, CancellationToken cancellationToken)
    {
        if (!DnsName.TryNormalize(host, out var name))
        {
            return ValueTask.FromResult(new DnsResult<IPAddress>(DnsStatus.NxDomain, []));
        }

        var lifetime = Lifetime;
        var v4 = _addresses.GetOrLookupAsync(name, DnsRecordType.A, _lookupAddresses, lifetime, cancellationToken);
        var v6 = _addresses.GetOrLookupAsync(name, DnsRecordType.Aaaa, _lookupAddresses, lifetime, cancellationToken);
        return v4.IsCompletedSuccessfully && v6.IsCompletedSuccessfully
            ? ValueTask.FromResult(CombineAddresses(v4.Result, v6.Result))
            : AwaitBothAsync(v4, v6);

        static async ValueTask<DnsResult<IPAddress>> AwaitBothAsync(ValueTask<DnsResult<IPAddress>> v4, ValueTask<DnsResult<IPAddress>> v6)
        {
            // Both are already running; await each once, as a ValueTask must be.
            var a = await v4.ConfigureAwait(false);
            var aaaa = await v6.ConfigureAwait(false);
            return CombineAddresses(a, aaaa);
        }
    }

    public ValueTask<DnsResult<IPAddress>> ResolveAddressesAsync(string host, AddressFamily family, CancellationToken cancellationToken)
    {
        if (family is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentOutOfRangeException(nameof(family), family, "Only IPv4 and IPv6 addresses are looked up.");
        }

        return DnsName.TryNormalize(host, out var name)
            ? _addresses.GetOrLookupAsync(name, family == AddressFamily.InterNetwork ? DnsRecordType.A : DnsRecordType.Aaaa, _lookupAddresses, Lifetime, cancellationToken)
            : ValueTask.FromResult(new DnsResult<IPAddress>(DnsStatus.NxDomain, []));
    }

    public ValueTask<DnsResult<string>> ResolvePtrAsync(IPAddress address, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        return _ptr.GetOrLookupAsync(DnsName.ReverseLookupName(address), DnsRecordType.Ptr, _lookupPtr, Lifetime, cancellationToken);
    }

    public ValueTask<DnsResult<TlsaRecord>> ResolveTlsaAsync(string name, CancellationToken cancellationToken) =>
        DnsName.TryNormalize(name, out var normalized)
            ? _tlsa.GetOrLookupAsync(normalized, DnsRecordType.Tlsa, _lookupTlsa, Lifetime, cancellationToken)
            : ValueTask.FromResult(new DnsResult<TlsaRecord>(DnsStatus.NxDomain, []));

    public void Dispose()
    {
        if (!_lifetime.IsCancellationRequested)
        {
            _lifetime.Cancel();
        }

        _lifetime.Dispose();
    }

    private CancellationToken Lifetime
    {
        get
        {
            ObjectDisposedException.ThrowIf(_lifetime.IsCancellationRequested, this);
            return _lifetime.Token;
        }
    }

    /// <summary>A and AAAA answered separately: any address wins (a host reachable over one family is reachable);
    /// otherwise NXDOMAIN from either is final, then trouble on either means try later, else there are none.</summary>
    internal static DnsResult<IPAddress> CombineAddresses(DnsResult<IPAddress> a, DnsResult<IPAddress> aaaa)
    {
        // Authentic only when both halves are: an unsigned AAAA answer could add an address nobody vouched for.
        var authenticated = a.Authenticated && aaaa.Authenticated;
        if (a.IsOk || aaaa.IsOk)
        {
            return new(DnsStatus.Ok, [.. a.Records, .. aaaa.Records], authenticated);
        }

        if (a.Status == DnsStatus.NxDomain || aaaa.Status == DnsStatus.NxDomain)
        {
            return new(DnsStatus.NxDomain, [], authenticated);
        }

        return a.Status == DnsStatus.TemporaryFailure || aaaa.Status == DnsStatus.TemporaryFailure
            ? new(DnsStatus.TemporaryFailure, [])
            : new(DnsStatus.NoData, []);
    }
}
