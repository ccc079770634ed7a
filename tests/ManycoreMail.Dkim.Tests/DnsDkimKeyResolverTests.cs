using System.Net;
using ManycoreMail.Dns;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Dkim.Tests;

public sealed class DnsKeyFixture : IDisposable
{
    /// <summary>Longer than one 255-byte character-string, so the record comes back in pieces to be joined.</summary>
    public static readonly string LongRecord = "v=DKIM1; k=rsa; n=" + new string('x', 300) + "; p=" + Rfc8463.RsaRecord[(Rfc8463.RsaRecord.IndexOf("p=", StringComparison.Ordinal) + 2)..];

    public DnsKeyFixture()
    {
        Server = Dnsmasq.Start(
        [
            $"txt-record=brisbane._domainkey.football.example.com,\"{Rfc8463.Ed25519Record}\"",
            $"txt-record=test._domainkey.football.example.com,\"{LongRecord[..200]}\",\"{LongRecord[200..]}\"",
            "local=/example.com/",
        ]);
    }

    public Dnsmasq Server { get; }

    public void Dispose() => Server.Dispose();
}

public sealed class DnsDkimKeyResolverTests(DnsKeyFixture dns) : IClassFixture<DnsKeyFixture>
{
    private DnsResolver Resolver() => new(new DnsResolverOptions { Servers = [dns.Server.EndPoint], Timeout = TimeSpan.FromSeconds(5) });

    [Fact]
    public async Task The_rfc8463_example_verifies_with_keys_from_dnsmasq()
    {
        using var resolver = Resolver();
        var verifier = new DkimVerifier(new DnsDkimKeyResolver(resolver), TimeProvider.System);

        var results = await verifier.VerifyAsync(Rfc8463.Message, CancellationToken.None);

        Assert.Equal([DkimResult.Pass, DkimResult.Pass], results.Select(r => r.Result));
    }

    [Fact]
    public async Task A_record_in_several_strings_is_joined()
    {
        using var resolver = Resolver();

        var lookup = await new DnsDkimKeyResolver(resolver).LookupAsync("test", Rfc8463.Domain, CancellationToken.None);

        Assert.Equal(DkimKeyLookupStatus.Found, lookup.Status);
        Assert.Equal(DnsKeyFixture.LongRecord, Assert.Single(lookup.Records));
    }

    [Fact]
    public async Task A_missing_selector_is_not_found()
    {
        using var resolver = Resolver();

        var lookup = await new DnsDkimKeyResolver(resolver).LookupAsync("nothere", Rfc8463.Domain, CancellationToken.None);

        Assert.Equal(DkimKeyLookupStatus.NotFound, lookup.Status);
    }

    [Fact]
    public async Task An_unreachable_name_server_is_a_temporary_failure_and_a_temperror()
    {
        // A port on loopback where nothing listens: the query is refused or times out, never answered.
        using var silent = new System.Net.Sockets.UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var resolver = new DnsResolver(new DnsResolverOptions
        {
            Servers = [(IPEndPoint)silent.Client.LocalEndPoint!],
            Timeout = TimeSpan.FromMilliseconds(200),
            Attempts = 1,
        });
        var keys = new DnsDkimKeyResolver(resolver);

        var lookup = await keys.LookupAsync("brisbane", Rfc8463.Domain, CancellationToken.None);
        var results = await new DkimVerifier(keys, TimeProvider.System).VerifyAsync(Rfc8463.Message, CancellationToken.None);

        Assert.Equal(DkimKeyLookupStatus.TemporaryFailure, lookup.Status);
        Assert.All(results, r => Assert.Equal(DkimResult.TempError, r.Result));
    }
}
