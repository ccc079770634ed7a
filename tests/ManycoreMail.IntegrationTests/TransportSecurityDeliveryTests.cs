using System.Security.Cryptography.X509Certificates;
using ManycoreMail.Dns;
using ManycoreMail.Smtp.Server;
using ManycoreMail.TestSupport;
using ManycoreMail.TransportSecurity;
using ManycoreMail.TransportSecurity.MtaSts;
using ManycoreMail.TransportSecurity.Reporting;

namespace ManycoreMail.IntegrationTests;

/// <summary>The sender with MTA-STS and DANE on, against real peers: nsd serving a signed zone behind a validating
/// unbound, openssl s_server as the MTA-STS policy server, our SMTP server presenting right and wrong certificates.</summary>
public sealed class TransportSecurityDeliveryTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Dane_ee_delivers_to_the_published_key_and_defers_when_the_server_presents_another()
    {
        using var published = TestPki.SelfSigned("anything.example");
        using var other = TestPki.SelfSigned("mx-bad.dane.test");
        using var dns = await SignedDns.StartAsync("dane.test", [
            "ee MX 10 mx-ee.dane.test.", "mx-ee A 127.0.0.71", $"_25._tcp.mx-ee TLSA 3 1 1 {TestPki.SpkiSha256(published)}",
            "bad MX 10 mx-bad.dane.test.", "mx-bad A 127.0.0.72", $"_25._tcp.mx-bad TLSA 3 1 1 {TestPki.SpkiSha256(published)}",
        ]);
        await using var harness = await DeliveryHarness.StartAsync([]);
        var good = harness.StartServer("127.0.0.71", new ScriptedHandler(), WithCertificate(published));
        var bad = harness.StartServer("127.0.0.72", new ScriptedHandler(), WithCertificate(other));
        var reports = new TlsReportCollector(TimeProvider.System);
        await harness.StartSenderAsync(dnsServer: dns.EndPoint,
            transportSecurity: resolver => new TransportSecurityGate(new TransportPolicy(resolver, null, dane: true, new CertificateTrust()), reports));

        await harness.EnqueueAsync("d1", "a@ee.dane.test");
        await harness.EnqueueAsync("d2", "b@bad.dane.test");
        var delivered = Assert.Single(await harness.WaitForEventsAsync(1, Deadline));
        Assert.Equal("delivered", delivered.GetProperty("event").GetString());
        Assert.Single(good.Handler.Delivered);
        Assert.True(Assert.Single(good.Handler.Delivered).Session.IsTls);

        var deferred = await DeferredAsync(harness, "b@bad.dane.test");
        Assert.StartsWith("4.7.5 mx-bad.dane.test: DANE refused the certificate", deferred, StringComparison.Ordinal);
        Assert.Empty(bad.Handler.Delivered);
        Assert.DoesNotContain(harness.Role!.Engine.Snapshot(), s => s.BackoffUntil is not null);

        var policies = Assert.Single(reports.TakeDaysBefore(DateOnly.FromDateTime(DateTime.UtcNow).AddDays(1))).Policies;
        var ee = Assert.Single(policies, p => p.PolicyDomain == "ee.dane.test");
        Assert.Equal((TlsPolicyKind.Tlsa, 1L, 0L), (ee.Kind, ee.Successes, ee.FailureCount));
        var refused = Assert.Single(policies, p => p.PolicyDomain == "bad.dane.test");
        Assert.Equal(TlsResultType.ValidationFailure, refused.Failures[0].ResultType);
    }

    [Fact]
    public async Task Dane_defers_with_4_7_4_when_the_mx_does_not_offer_starttls_and_reports_it()
    {
        using var published = TestPki.SelfSigned("mx-plain.dane.test");
        using var dns = await SignedDns.StartAsync("dane.test", [
            "plain MX 10 mx-plain.dane.test.", "mx-plain A 127.0.0.74", $"_25._tcp.mx-plain TLSA 3 1 1 {TestPki.SpkiSha256(published)}",
        ]);
        await using var harness = await DeliveryHarness.StartAsync([]);
        var plain = harness.StartServer("127.0.0.74", new ScriptedHandler()); // no certificate: no STARTTLS offered
        var reports = new TlsReportCollector(TimeProvider.System);
        await harness.StartSenderAsync(dnsServer: dns.EndPoint,
            transportSecurity: resolver => new TransportSecurityGate(new TransportPolicy(resolver, null, dane: true, new CertificateTrust()), reports));

        await harness.EnqueueAsync("n1", "a@plain.dane.test");
        // The retry (a second later) does not connect again: the refusal is remembered, with its own status.
        var deferrals = await DeferralsAsync(harness, "a@plain.dane.test", 2);
        Assert.StartsWith("4.7.4 mx-plain.dane.test: TLS is required by DANE but", deferrals[0], StringComparison.Ordinal);
        Assert.Contains("does not offer STARTTLS", deferrals[0], StringComparison.Ordinal);
        Assert.StartsWith("4.7.4 mx-plain.dane.test: TLS is required by DANE but", deferrals[1], StringComparison.Ordinal);
        Assert.Contains("(refused before; not tried again until", deferrals[1], StringComparison.Ordinal);
        Assert.Empty(plain.Handler.Delivered);
        Assert.DoesNotContain(harness.Role!.Engine.Snapshot(), s => s.BackoffUntil is not null);

        // One session, one failure counted: the retries never reached the server.
        var policy = Assert.Single(Assert.Single(reports.TakeDaysBefore(DateOnly.FromDateTime(DateTime.UtcNow).AddDays(1))).Policies);
        Assert.Equal((TlsPolicyKind.Tlsa, 0L, 1L), (policy.Kind, policy.Successes, policy.FailureCount));
        Assert.Equal(TlsResultType.StartTlsNotSupported, Assert.Single(policy.Failures).ResultType);
    }

    [Fact]
    public async Task Mta_sts_enforce_defers_its_domain_with_4_7_5_while_another_domain_on_the_same_mx_delivers()
    {
        using var ca = TestPki.CreateCa("STS delivery test CA");
        using var misnamed = TestPki.Issue(ca, "wrong.sts.test");
        using var dns = await SignedDns.StartAsync("signed.test", [], new Dictionary<string, IEnumerable<string>>
        {
            ["sts.test"] = ["@ MX 10 mx.sts.test.", "mx A 127.0.0.73", "mta-sts A 127.0.0.1", "_mta-sts TXT \"v=STSv1; id=1\""],
            ["plain.test"] = ["@ MX 10 mx.sts.test."],
        });
        var web = Directory.CreateTempSubdirectory("sts-web-").FullName;
        Directory.CreateDirectory(Path.Combine(web, ".well-known"));
        File.WriteAllText(Path.Combine(web, ".well-known", "mta-sts.txt"), "version: STSv1\nmode: enforce\nmx: mx.sts.test\nmax_age: 86400\n");
        using var policyServer = await OpenSslServer.StartAsync(TestPki.WritePem(TestPki.Issue(ca, "mta-sts.sts.test"), web, "policy"), web);

        await using var harness = await DeliveryHarness.StartAsync([]);
        var mx = harness.StartServer("127.0.0.73", new ScriptedHandler(), WithCertificate(misnamed));
        var reports = new TlsReportCollector(TimeProvider.System);
        var trust = new CertificateTrust([ca]);
        await harness.StartSenderAsync(dnsServer: dns.EndPoint, transportSecurity: resolver =>
        {
            var fetcher = new MtaStsFetcher(resolver, trust, TimeSpan.FromSeconds(20), policyServer.Port);
            var source = new MtaStsPolicySource(resolver, fetcher, new MtaStsPolicyStore(harness.Directory), TimeProvider.System);
            return new TransportSecurityGate(new TransportPolicy(resolver, source, dane: true, trust), reports);
        });

        await harness.EnqueueAsync("s1", "a@sts.test");
        var deferred = await DeferredAsync(harness, "a@sts.test");
        Assert.StartsWith("4.7.5 mx.sts.test: the MTA-STS policy refused the certificate", deferred, StringComparison.Ordinal);
        // The refusal is sts.test's alone: a domain without a policy on the same MX host set is not held back.
        await harness.EnqueueAsync("p1", "b@plain.test");
        var delivered = Assert.Single(await harness.WaitForEventsAsync(1, Deadline));
        Assert.Equal("b@plain.test", delivered.GetProperty("email").GetString());
        Assert.Equal("b@plain.test", Assert.Single(mx.Handler.Delivered).Recipient);
        Assert.DoesNotContain(harness.Role!.Engine.Snapshot(), s => s.BackoffUntil is not null);
        await Eventually.TrueAsync(() => harness.Role.ActiveCount == 0, Deadline, "the deferral settled");
        Assert.Equal(1, await harness.Store.CountAsync(DeliveryHarness.Outbound, CancellationToken.None));
        Assert.True(File.Exists(Path.Combine(harness.Directory, "mta-sts-policies.json")));

        var policies = Assert.Single(reports.TakeDaysBefore(DateOnly.FromDateTime(DateTime.UtcNow).AddDays(1))).Policies;
        var plain = Assert.Single(policies, p => p.PolicyDomain == "plain.test");
        Assert.Equal((TlsPolicyKind.None, 1L), (plain.Kind, plain.Successes));
        var policy = Assert.Single(policies, p => p.PolicyDomain == "sts.test");
        Assert.Equal(TlsPolicyKind.Sts, policy.Kind);
        Assert.Equal(TlsResultType.CertificateHostMismatch, policy.Failures[0].ResultType);
        Directory.Delete(web, recursive: true);
    }

    /// <summary>The reasons of the first <paramref name="count"/> deferred events for <paramref name="recipient"/>.</summary>
    private static async Task<IReadOnlyList<string>> DeferralsAsync(DeliveryHarness harness, string recipient, int count) =>
        await Eventually.GetAsync(async () =>
        {
            var reasons = (await harness.WaitForEventsAsync(0, Deadline, withDeferred: true))
                .Where(e => e.GetProperty("event").GetString() == "deferred" && e.GetProperty("email").GetString() == recipient)
                .Select(e => e.GetProperty("reason").GetString() ?? "")
                .ToList();
            return reasons.Count >= count ? reasons : null;
        }, Deadline, $"{count} deferred events for {recipient}");

    /// <summary>The reason of the first deferred event for <paramref name="recipient"/>.</summary>
    private static async Task<string> DeferredAsync(DeliveryHarness harness, string recipient)
    {
        var events = await Eventually.GetAsync(async () =>
        {
            var all = await harness.WaitForEventsAsync(0, Deadline, withDeferred: true);
            return all.FirstOrDefault(e => e.GetProperty("event").GetString() == "deferred" && e.GetProperty("email").GetString() == recipient) is { ValueKind: System.Text.Json.JsonValueKind.Object } found
                ? found.GetProperty("reason").GetString()
                : null;
        }, Deadline, $"a deferred event for {recipient}");
        return events!;
    }

    private static SmtpServerOptions WithCertificate(X509Certificate2 certificate) =>
        new() { ServerName = "mx.test", CertificateProvider = () => certificate };
}
