using ManycoreMail.Dns.Transport;
using ManycoreMail.Dns.Wire;
using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.Dns.Tests;

public sealed class DnsRecordCacheTests
{
    private readonly FakeTimeProvider _time = new();
    private int _lookups;

    private Task<DnsAnswer<string>> Lookup(string name, DnsRecordType type, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _lookups);
        return Task.FromResult(new DnsAnswer<string>(new DnsResult<string>(DnsStatus.Ok, [name]), TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public async Task Full_cache_makes_room_instead_of_growing()
    {
        var cache = new DnsRecordCache<string>(_time, capacity: 10);

        for (var i = 0; i < 25; i++)
        {
            await cache.GetOrLookupAsync($"host{i}.test", DnsRecordType.Txt, Lookup, default, default);
            Assert.InRange(cache.Count, 1, 10);
        }

        Assert.Equal(25, _lookups);
    }

    [Fact]
    public async Task Expired_entries_go_first_when_full()
    {
        var cache = new DnsRecordCache<string>(_time, capacity: 10);
        await cache.GetOrLookupAsync("old0.test", DnsRecordType.Txt, Lookup, default, default);
        await cache.GetOrLookupAsync("old1.test", DnsRecordType.Txt, Lookup, default, default);
        _time.Advance(TimeSpan.FromSeconds(59));
        for (var i = 0; i < 8; i++)
        {
            await cache.GetOrLookupAsync($"new{i}.test", DnsRecordType.Txt, Lookup, default, default);
        }

        _time.Advance(TimeSpan.FromSeconds(1)); // the old ones expire, the others have 59 s left
        await cache.GetOrLookupAsync("newest.test", DnsRecordType.Txt, Lookup, default, default);
        await cache.GetOrLookupAsync("new0.test", DnsRecordType.Txt, Lookup, default, default);

        Assert.Equal(9, cache.Count);
        Assert.Equal(11, _lookups); // new0 still came from the cache
    }

    [Fact]
    public async Task Same_name_of_another_type_is_another_entry()
    {
        var cache = new DnsRecordCache<string>(_time, capacity: 10);

        await cache.GetOrLookupAsync("host.test", DnsRecordType.A, Lookup, default, default);
        await cache.GetOrLookupAsync("host.test", DnsRecordType.Aaaa, Lookup, default, default);
        await cache.GetOrLookupAsync("host.test", DnsRecordType.A, Lookup, default, default);

        Assert.Equal(2, _lookups);
    }
}
