using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using ManycoreMail.Dns;
using ManycoreMail.TestSupport;
using ManycoreMail.TransportSecurity.MtaSts;
using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.TransportSecurity.Tests;

/// <summary>The MTA-STS policy server world: nsd and unbound answer for sts.test (mta-sts.sts.test is 127.0.0.1),
/// openssl s_server serves the policy over HTTPS with a certificate from a test CA.</summary>
public sealed class MtaStsWorld : IAsyncLifetime
{
    public const string Policy = "version: STSv1\r\nmode: enforce\r\nmx: mx.sts.test\r\nmx: *.backup.sts.test\r\nmax_age: 86400\r\n";

    public X509Certificate2 Ca { get; } = TestPki.CreateCa("MTA-STS test CA");
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("mta-sts-").FullName;
    public SignedDns Dns { get; private set; } = null!;
    public OpenSslServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var web = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "web", ".well-known")).Parent!.FullName;
        File.WriteAllText(Path.Combine(web, ".well-known", "mta-sts.txt"), Policy);
        Dns = await SignedDns.StartAsync("signed.test", [], new Dictionary<string, IEnumerable<string>>
        {
            ["sts.test"] = ["@ MX 10 mx.sts.test.", "mx A 127.0.0.1", "mta-sts A 127.0.0.1", "_mta-sts TXT \"v=STSv1; id=20261206\""],
        });
        Server = await OpenSslServer.StartAsync(TestPki.WritePem(TestPki.Issue(Ca, "mta-sts.sts.test"), Directory, "policy-server"), web);
    }

    public DnsResolver CreateResolver() => new(DnsResolverOptions.FromServers([Dns.EndPoint.ToString()]));

    public CertificateTrust Trust => new([Ca]);

    public Task DisposeAsync()
    {
        Server?.Dispose();
        Dns?.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
        return Task.CompletedTask;
    }
}

public sealed class MtaStsTests(MtaStsWorld world) : IClassFixture<MtaStsWorld>
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task The_policy_is_fetched_over_https_from_the_host_our_resolver_names_and_parsed()
    {
        using var resolver = world.CreateResolver();
        using var fetcher = new MtaStsFetcher(resolver, world.Trust, Timeout, world.Server.Port);
        var policy = await fetcher.FetchAsync("sts.test", None);
        Assert.Equal(MtaStsMode.Enforce, policy.Mode);
        Assert.Equal(["mx.sts.test", "*.backup.sts.test"], policy.MxPatterns);
        Assert.Equal(TimeSpan.FromDays(1), policy.MaxAge);
    }

    [Fact]
    public async Task A_policy_server_whose_certificate_is_not_trusted_gives_no_policy()
    {
        using var resolver = world.CreateResolver();
        using var fetcher = new MtaStsFetcher(resolver, new CertificateTrust(), Timeout, world.Server.Port);
        var failure = await Assert.ThrowsAsync<MtaStsFetchException>(() => fetcher.FetchAsync("sts.test", None));
        Assert.Equal("sts-webpki-invalid", failure.ResultType);
    }

    [Fact]
    public async Task A_domain_whose_policy_host_does_not_exist_is_a_fetch_error()
    {
        using var resolver = world.CreateResolver();
        using var fetcher = new MtaStsFetcher(resolver, world.Trust, Timeout, world.Server.Port);
        var failure = await Assert.ThrowsAsync<MtaStsFetchException>(() => fetcher.FetchAsync("nowhere.sts.test", None));
        Assert.Equal("sts-policy-fetch-error", failure.ResultType);
    }

    [Fact]
    public async Task A_fetched_policy_survives_a_restart_and_is_kept_when_a_refetch_fails()
    {
        var storage = System.IO.Directory.CreateTempSubdirectory("sts-store-").FullName;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var resolver = world.CreateResolver();
        using (var fetcher = new MtaStsFetcher(resolver, world.Trust, Timeout, world.Server.Port))
        {
            var first = await new MtaStsPolicySource(resolver, fetcher, new MtaStsPolicyStore(storage), time).GetAsync("sts.test", None);
            Assert.Equal("20261206", first.Policy?.Id);
        }

        // "Restarted", with the policy server unreachable: the stored policy under the same id is used unfetched.
        var txt = new OverriddenTxt(resolver, "_mta-sts.sts.test", "v=STSv1; id=20261206");
        using var deadFetcher = new MtaStsFetcher(txt, world.Trust, Timeout, port: ClosedPort());
        var restarted = new MtaStsPolicySource(txt, deadFetcher, new MtaStsPolicyStore(storage), time);
        var kept = await restarted.GetAsync("sts.test", None);
        Assert.Equal(MtaStsMode.Enforce, kept.Policy?.Policy.Mode);
        Assert.Null(kept.FailureType);

        // A new id means a refetch; it fails, and the unexpired policy stays in force (RFC 8461 §5.1).
        txt.Text = "v=STSv1; id=20261207";
        var refetched = await restarted.GetAsync("sts.test", None);
        Assert.Equal("20261206", refetched.Policy?.Id);
        Assert.Equal("sts-policy-fetch-error", refetched.FailureType);

        // Once it has expired, nothing is left to enforce.
        time.Advance(TimeSpan.FromDays(1) + TimeSpan.FromSeconds(1));
        var expired = await restarted.GetAsync("sts.test", None);
        Assert.Null(expired.Policy);
        System.IO.Directory.Delete(storage, recursive: true);
    }

    [Fact]
    public async Task Cached_policies_are_refreshed_on_a_new_id_and_before_they_expire_and_a_failed_refresh_keeps_the_old_one()
    {
        // A policy server of its own: this test changes and removes the policy it serves.
        var storage = System.IO.Directory.CreateTempSubdirectory("sts-refresh-").FullName;
        var web = System.IO.Directory.CreateDirectory(Path.Combine(storage, "web", ".well-known")).Parent!.FullName;
        var policyFile = Path.Combine(web, ".well-known", "mta-sts.txt");
        File.WriteAllText(policyFile, MtaStsWorld.Policy);
        using var server = await OpenSslServer.StartAsync(TestPki.WritePem(TestPki.Issue(world.Ca, "mta-sts.sts.test"), storage, "policy-server"), web);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var resolver = world.CreateResolver();
        var txt = new OverriddenTxt(resolver, "_mta-sts.sts.test", "v=STSv1; id=1");
        using var fetcher = new MtaStsFetcher(txt, world.Trust, Timeout, server.Port);
        var store = new MtaStsPolicyStore(storage);
        var source = new MtaStsPolicySource(txt, fetcher, store, time);
        Assert.Equal("1", (await source.GetAsync("sts.test", None)).Policy?.Id);
        Assert.Empty(await source.RefreshAsync(None)); // young, same id: nothing to do

        // A new policy under a new id is fetched by the refresh, with no delivery asking for it.
        File.WriteAllText(policyFile, "version: STSv1\r\nmode: testing\r\nmx: mx.sts.test\r\nmax_age: 172800\r\n");
        txt.Text = "v=STSv1; id=2";
        Assert.Contains("sts.test: refreshed (id 1 -> 2, mode testing)", await source.RefreshAsync(None));
        Assert.Equal(("2", MtaStsMode.Testing), (store.Get("sts.test")?.Id, store.Get("sts.test")?.Policy.Mode));

        // A day on, under the same id, it is fetched again so its max_age starts afresh (RFC 8461 §5.1).
        time.Advance(TimeSpan.FromDays(1));
        Assert.Single(await source.RefreshAsync(None));
        Assert.Equal(time.GetUtcNow(), store.Get("sts.test")?.FetchedAt);

        // Under yet another id the policy server serves a policy that does not parse: the refresh says so, and the
        // cached policy stays in force.
        File.WriteAllText(policyFile, "version: STSv9\r\nmode: none\r\nmax_age: 60\r\n");
        txt.Text = "v=STSv1; id=3";
        time.Advance(TimeSpan.FromHours(1));
        Assert.StartsWith("sts.test: refresh failed, keeping id 2 until", Assert.Single(await source.RefreshAsync(None)), StringComparison.Ordinal);
        var kept = await source.GetAsync("sts.test", None);
        Assert.Equal(("2", MtaStsMode.Testing, "sts-policy-invalid"), (kept.Policy?.Id, kept.Policy?.Policy.Mode, kept.FailureType));

        // Until its max_age has run out; then nothing is left to apply.
        time.Advance(TimeSpan.FromDays(2));
        Assert.Empty(await source.RefreshAsync(None));
        Assert.Null((await source.GetAsync("sts.test", None)).Policy);
        System.IO.Directory.Delete(storage, recursive: true);
    }

    [Fact]
    public async Task A_caller_giving_up_does_not_cancel_the_fetch_another_caller_shares()
    {
        // A policy "server" that accepts and stays silent: the fetch is in flight until the test closes the socket.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var accepted = new System.Collections.Concurrent.ConcurrentQueue<Socket>();
        var accepting = Task.Run(async () =>
        {
            while (true)
            {
                accepted.Enqueue(await silent.AcceptSocketAsync());
            }
        });
        var storage = System.IO.Directory.CreateTempSubdirectory("sts-shared-").FullName;
        using var resolver = world.CreateResolver();
        using var fetcher = new MtaStsFetcher(resolver, world.Trust, Timeout, ((IPEndPoint)silent.LocalEndpoint).Port);
        var source = new MtaStsPolicySource(resolver, fetcher, new MtaStsPolicyStore(storage), TimeProvider.System);

        using var impatient = new CancellationTokenSource();
        var first = source.GetAsync("sts.test", impatient.Token);
        await Eventually.TrueAsync(() => !accepted.IsEmpty, Timeout, "the policy fetch to connect");
        var second = source.GetAsync("sts.test", None);
        await impatient.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);

        // The server hangs up: the shared fetch ends as a fetch error, not as the first caller's cancellation.
        foreach (var socket in accepted)
        {
            socket.Dispose();
        }

        var lookup = await second;
        Assert.Equal("sts-policy-fetch-error", lookup.FailureType);
        Assert.Single(accepted);
        silent.Stop();
        System.IO.Directory.Delete(storage, recursive: true);
    }

    [Fact]
    public async Task Enforce_skips_mx_hosts_outside_the_policy_and_requires_a_verified_named_certificate()
    {
        var storage = System.IO.Directory.CreateTempSubdirectory("sts-store-").FullName;
        using var resolver = world.CreateResolver();
        using var fetcher = new MtaStsFetcher(resolver, world.Trust, Timeout, world.Server.Port);
        var source = new MtaStsPolicySource(resolver, fetcher, new MtaStsPolicyStore(storage), TimeProvider.System);
        var policy = await new TransportPolicy(resolver, source, dane: true, world.Trust)
            .ResolveAsync("sts.test", ["mx.sts.test", "a.backup.sts.test", "a.b.backup.sts.test", "rogue.example"], None);

        Assert.All(policy.Hosts, h => Assert.Equal(TlsPolicyKind.Sts, h.Kind));
        Assert.Null(policy.For("mx.sts.test").Skip);
        Assert.Null(policy.For("a.backup.sts.test").Skip);
        Assert.NotNull(policy.For("a.b.backup.sts.test").Skip); // "*." stands for exactly one label
        Assert.NotNull(policy.For("rogue.example").Skip);

        var host = policy.For("mx.sts.test");
        Assert.True(host.TlsRequired);
        using var good = TestPki.Issue(world.Ca, "mx.sts.test");
        using var misnamed = TestPki.Issue(world.Ca, "other.sts.test");
        using var untrusted = TestPki.SelfSigned("mx.sts.test");
        Assert.Null(host.Check(good, null, System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.Contains("does not name", host.Check(misnamed, null, System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.Contains("trusted root", host.Check(untrusted, null, System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors));
        System.IO.Directory.Delete(storage, recursive: true);
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The real resolver with one TXT answer replaced, to change a record id between calls.</summary>
    private sealed class OverriddenTxt(IDnsResolver inner, string name, string text) : IDnsResolver
    {
        public string Text { get; set; } = text;

        public ValueTask<DnsResult<MxRecord>> ResolveMxAsync(string domain, CancellationToken cancellationToken) => inner.ResolveMxAsync(domain, cancellationToken);

        public ValueTask<DnsResult<IPAddress>> ResolveAddressesAsync(string host, CancellationToken cancellationToken) => inner.ResolveAddressesAsync(host, cancellationToken);

        public ValueTask<DnsResult<string>> ResolveTxtAsync(string txtName, CancellationToken cancellationToken) =>
            txtName == name ? ValueTask.FromResult(new DnsResult<string>(DnsStatus.Ok, [Text])) : inner.ResolveTxtAsync(txtName, cancellationToken);
    }
}
