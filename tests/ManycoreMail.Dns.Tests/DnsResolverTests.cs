using System.Net;
using ManycoreMail.Dns.Tests.Support;
using ManycoreMail.Dns.Wire;
using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.Dns.Tests;

/// <summary>The resolver against a scripted server: caching, failover, stray datagrams, TCP retry.</summary>
public sealed class DnsResolverTests
{
    private const ushort NxDomainFlags = DnsMessageBuilder.ResponseFlags | 3;
    private const ushort ServFailFlags = DnsMessageBuilder.ResponseFlags | 2;

    private readonly FakeTimeProvider _time = new();

    private static byte[] MxAnswer(ReceivedQuery query, uint ttl) =>
        DnsMessageBuilder.ResponseTo(query.Bytes, answers: 1).Answer(DnsRecordType.Mx, ttl, b => b.UInt16(10).Name("mx1", thenPointer: 12)).ToArray();

    private static byte[] AAnswer(ReceivedQuery query, uint ttl, params byte[][] addresses)
    {
        var builder = DnsMessageBuilder.ResponseTo(query.Bytes, answers: (ushort)addresses.Length);
        foreach (var address in addresses)
        {
            builder.Answer(DnsRecordType.A, ttl, b => b.Bytes(address));
        }

        return builder.ToArray();
    }

    private static bool IsType(ReceivedQuery query, DnsRecordType type)
    {
        var end = 12;
        while (query.Bytes[end] != 0)
        {
            end += query.Bytes[end] + 1;
        }

        return query.Bytes[end + 2] == (byte)type;
    }

    [Fact]
    public async Task Positive_answer_is_cached_for_its_ttl()
    {
        using var server = new ScriptedDnsServer(q => [MxAnswer(q, ttl: 60)]);
        using var resolver = new DnsResolver(server.Options(), _time);

        var first = await resolver.ResolveMxAsync("example.test", default);
        _time.Advance(TimeSpan.FromSeconds(59));
        var cached = await resolver.ResolveMxAsync("EXAMPLE.test.", default);

        Assert.Equal(DnsStatus.Ok, first.Status);
        Assert.Equal(new MxRecord(10, "mx1.example.test"), Assert.Single(first.Records));
        Assert.Equal(first, cached);
        Assert.Single(server.Queries);

        _time.Advance(TimeSpan.FromSeconds(1));
        var refreshed = await resolver.ResolveMxAsync("example.test", default);

        Assert.Equal(DnsStatus.Ok, refreshed.Status);
        Assert.Equal(2, server.Queries.Count);
    }

    [Fact]
    public async Task Cache_time_is_capped_by_max_cache_ttl()
    {
        using var server = new ScriptedDnsServer(q => [MxAnswer(q, ttl: 86400)]);
        using var resolver = new DnsResolver(server.Options() with { MaxCacheTtl = TimeSpan.FromSeconds(10) }, _time);

        await resolver.ResolveMxAsync("example.test", default);
        _time.Advance(TimeSpan.FromSeconds(9));
        await resolver.ResolveMxAsync("example.test", default);
        Assert.Single(server.Queries);

        _time.Advance(TimeSpan.FromSeconds(2));
        await resolver.ResolveMxAsync("example.test", default);
        Assert.Equal(2, server.Queries.Count);
    }

    [Fact]
    public async Task Zero_ttl_is_not_cached()
    {
        using var server = new ScriptedDnsServer(q => [MxAnswer(q, ttl: 0)]);
        using var resolver = new DnsResolver(server.Options(), _time);

        await resolver.ResolveMxAsync("example.test", default);
        await resolver.ResolveMxAsync("example.test", default);

        Assert.Equal(2, server.Queries.Count);
    }

    [Fact]
    public async Task Nxdomain_is_cached_for_the_soa_minimum()
    {
        using var server = new ScriptedDnsServer(q =>
            [DnsMessageBuilder.ResponseTo(q.Bytes, flags: NxDomainFlags, authorities: 1).Soa(b => b.Name("test"), ttl: 3600, minimum: 30).ToArray()]);
        using var resolver = new DnsResolver(server.Options(), _time);

        Assert.Equal(DnsStatus.NxDomain, (await resolver.ResolveMxAsync("nope.test", default)).Status);
        _time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(DnsStatus.NxDomain, (await resolver.ResolveMxAsync("nope.test", default)).Status);
        Assert.Single(server.Queries);

        _time.Advance(TimeSpan.FromSeconds(1));
        await resolver.ResolveMxAsync("nope.test", default);
        Assert.Equal(2, server.Queries.Count);
    }

    [Fact]
    public async Task No_data_without_soa_is_not_cached()
    {
        using var server = new ScriptedDnsServer(q => [DnsMessageBuilder.ResponseTo(q.Bytes).ToArray()]);
        using var resolver = new DnsResolver(server.Options(), _time);

        Assert.Equal(DnsStatus.NoData, (await resolver.ResolveMxAsync("implicit.test", default)).Status);
        Assert.Equal(DnsStatus.NoData, (await resolver.ResolveMxAsync("implicit.test", default)).Status);

        Assert.Equal(2, server.Queries.Count);
    }

    [Fact]
    public async Task Servfail_is_not_cached_and_moves_on_without_retrying_the_same_server()
    {
        using var server = new ScriptedDnsServer(q => [DnsMessageBuilder.ResponseTo(q.Bytes, flags: ServFailFlags).ToArray()]);
        using var resolver = new DnsResolver(server.Options(attempts: 3), _time);

        Assert.Equal(DnsStatus.TemporaryFailure, (await resolver.ResolveMxAsync("example.test", default)).Status);
        Assert.Equal(DnsStatus.TemporaryFailure, (await resolver.ResolveMxAsync("example.test", default)).Status);

        Assert.Equal(2, server.Queries.Count);
    }

    [Fact]
    public async Task Servers_are_tried_in_order()
    {
        using var failing = new ScriptedDnsServer(q => [DnsMessageBuilder.ResponseTo(q.Bytes, flags: 0x8185).ToArray()]); // REFUSED
        using var working = new ScriptedDnsServer(q => [MxAnswer(q, ttl: 60)]);
        var options = new DnsResolverOptions { Servers = [failing.EndPoint, working.EndPoint], Attempts = 2 };
        using var resolver = new DnsResolver(options, _time);

        var result = await resolver.ResolveMxAsync("example.test", default);

        Assert.Equal(DnsStatus.Ok, result.Status);
        Assert.Single(failing.Queries);
        Assert.Single(working.Queries);
    }

    [Fact]
    public async Task Datagrams_with_another_id_or_question_are_ignored()
    {
        using var server = new ScriptedDnsServer(q =>
        {
            var wrongId = MxAnswer(q, ttl: 60);
            wrongId[0] ^= 0x5A;
            var wrongQuestion = DnsMessageBuilder.Response(q.Id, answers: 0).Question("other.test", DnsRecordType.Mx).ToArray();
            return [wrongId, wrongQuestion, MxAnswer(q, ttl: 60)];
        });
        using var resolver = new DnsResolver(server.Options(), _time);

        var result = await resolver.ResolveMxAsync("example.test", default);

        Assert.Equal(DnsStatus.Ok, result.Status);
        Assert.Single(server.Queries);
    }

    [Fact]
    public async Task Malformed_answer_fails_the_attempt_and_the_next_one_is_made()
    {
        var answered = 0;
        using var server = new ScriptedDnsServer(q =>
        {
            var answer = MxAnswer(q, ttl: 60);
            return Interlocked.Increment(ref answered) == 1 ? [answer[..^3]] : [answer];
        });
        using var resolver = new DnsResolver(server.Options(attempts: 2), _time);

        var result = await resolver.ResolveMxAsync("example.test", default);

        Assert.Equal(DnsStatus.Ok, result.Status);
        Assert.Equal(2, server.Queries.Count);
        Assert.NotEqual(server.Queries[0].Id, server.Queries[1].Id);
    }

    [Fact]
    public async Task Truncated_answer_is_asked_again_over_tcp()
    {
        using var server = new ScriptedDnsServer(q => q.OverTcp
            ? [DnsMessageBuilder.ResponseTo(q.Bytes, answers: 1).Answer(DnsRecordType.Txt, 60, b => b.TxtStrings("full answer")).ToArray()]
            : [DnsMessageBuilder.ResponseTo(q.Bytes, flags: DnsMessageBuilder.ResponseFlags | 0x0200).ToArray()]);
        using var resolver = new DnsResolver(server.Options(), _time);

        var result = await resolver.ResolveTxtAsync("big.test", default);

        Assert.Equal("full answer", Assert.Single(result.Records));
        Assert.Equal([false, true], server.Queries.Select(q => q.OverTcp));
    }

    [Fact]
    public async Task Formerr_to_an_edns_query_is_retried_without_edns()
    {
        using var server = new ScriptedDnsServer(q => q.AdditionalCount > 0
            ? [DnsMessageBuilder.ResponseTo(q.Bytes, flags: DnsMessageBuilder.ResponseFlags | 1).ToArray()]
            : [MxAnswer(q, ttl: 60)]);
        using var resolver = new DnsResolver(server.Options(), _time);

        var result = await resolver.ResolveMxAsync("example.test", default);

        Assert.Equal(DnsStatus.Ok, result.Status);
        Assert.Equal([1, 0], server.Queries.Select(q => (int)q.AdditionalCount));
    }

    [Fact]
    public async Task Addresses_combine_a_then_aaaa()
    {
        using var server = new ScriptedDnsServer(q => IsType(q, DnsRecordType.A)
            ? [AAnswer(q, 60, [127, 0, 0, 2], [127, 0, 0, 3])]
            : [DnsMessageBuilder.ResponseTo(q.Bytes, answers: 1).Answer(DnsRecordType.Aaaa, 60, b => b.Bytes(IPAddress.IPv6Loopback.GetAddressBytes())).ToArray()]);
        using var resolver = new DnsResolver(server.Options(), _time);

        var result = await resolver.ResolveAddressesAsync("host.test", default);

        Assert.Equal([IPAddress.Parse("127.0.0.2"), IPAddress.Parse("127.0.0.3"), IPAddress.IPv6Loopback], result.Records);
    }

    [Fact]
    public async Task Concurrent_identical_queries_share_one_lookup()
    {
        using var release = new ManualResetEventSlim();
        using var server = new ScriptedDnsServer(q =>
        {
            release.Wait(TimeSpan.FromSeconds(10));
            return [MxAnswer(q, ttl: 0)];
        });
        using var resolver = new DnsResolver(server.Options(), _time);

        var lookups = Enumerable.Range(0, 8).Select(_ => resolver.ResolveMxAsync("example.test", default).AsTask()).ToArray();
        release.Set();
        var results = await Task.WhenAll(lookups);

        Assert.All(results, r => Assert.Equal(DnsStatus.Ok, r.Status));
        Assert.Single(server.Queries);
    }

    [Fact]
    public async Task A_waiting_caller_can_give_up_while_the_shared_lookup_goes_on()
    {
        using var release = new ManualResetEventSlim();
        using var server = new ScriptedDnsServer(q =>
        {
            release.Wait(TimeSpan.FromSeconds(10));
            return [MxAnswer(q, ttl: 60)];
        });
        using var resolver = new DnsResolver(server.Options(), _time);
        using var impatient = new CancellationTokenSource();

        var cancelled = resolver.ResolveMxAsync("example.test", impatient.Token).AsTask();
        var patient = resolver.ResolveMxAsync("example.test", default).AsTask();
        await impatient.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        release.Set();

        Assert.Equal(DnsStatus.Ok, (await patient).Status);
    }

    [Fact]
    public async Task Invalid_name_is_nxdomain_without_a_query()
    {
        using var server = new ScriptedDnsServer(q => [MxAnswer(q, ttl: 60)]);
        using var resolver = new DnsResolver(server.Options(), _time);

        Assert.Equal(DnsStatus.NxDomain, (await resolver.ResolveMxAsync("a..b", default)).Status);
        Assert.Empty(server.Queries);
    }

    [Fact]
    public async Task Disposed_resolver_refuses_queries()
    {
        using var server = new ScriptedDnsServer(q => [MxAnswer(q, ttl: 60)]);
        var resolver = new DnsResolver(server.Options(), _time);
        resolver.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await resolver.ResolveMxAsync("example.test", default));
    }

    [Fact]
    public void Options_are_checked()
    {
        Assert.Throws<ArgumentException>(() => new DnsResolver(new DnsResolverOptions { Servers = [] }, _time));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DnsResolver(new DnsResolverOptions { Servers = [new IPEndPoint(IPAddress.Loopback, 53)], Attempts = 0 }, _time));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DnsResolver(new DnsResolverOptions { Servers = [new IPEndPoint(IPAddress.Loopback, 53)], Timeout = TimeSpan.Zero }, _time));
    }

    [Theory]
    [InlineData(DnsStatus.Ok, DnsStatus.NoData, DnsStatus.Ok)]
    [InlineData(DnsStatus.TemporaryFailure, DnsStatus.Ok, DnsStatus.Ok)]
    [InlineData(DnsStatus.NoData, DnsStatus.NoData, DnsStatus.NoData)]
    [InlineData(DnsStatus.NxDomain, DnsStatus.TemporaryFailure, DnsStatus.NxDomain)]
    [InlineData(DnsStatus.NoData, DnsStatus.TemporaryFailure, DnsStatus.TemporaryFailure)]
    public void A_and_aaaa_outcomes_combine(DnsStatus a, DnsStatus aaaa, DnsStatus expected)
    {
        DnsResult<IPAddress> Result(DnsStatus status) => new(status, status == DnsStatus.Ok ? [IPAddress.Loopback] : []);

        Assert.Equal(expected, DnsResolver.CombineAddresses(Result(a), Result(aaaa)).Status);
    }
}
