using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using ManycoreMail.Dns;
using ManycoreMail.TransportSecurity.Reporting;
using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.TransportSecurity.Tests;

public sealed class TlsReportTests
{
    private static readonly string[] StsPolicy = ["version: STSv1", "mode: enforce", "mx: mx.example.com", "max_age: 86400"];

    [Fact]
    public void A_day_of_sessions_becomes_one_rfc8460_report_per_policy_domain()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 10, 0, 0, TimeSpan.Zero));
        var collector = new TlsReportCollector(time);
        var sts = new TlsSessionResult("Example.com", TlsPolicyKind.Sts, StsPolicy, ["mx.example.com"]);
        collector.Record(sts);
        collector.Record(sts);
        collector.Record(sts with { FailureType = TlsResultType.CertificateHostMismatch, ReceivingMxHostname = "mx.example.com", ReceivingIp = IPAddress.Parse("192.0.2.1") });
        collector.Record(new TlsSessionResult("other.example", TlsPolicyKind.None, [], []));

        Assert.Empty(collector.TakeDaysBefore(new DateOnly(2026, 12, 6))); // the day is not over
        var (day, policies) = Assert.Single(collector.TakeDaysBefore(new DateOnly(2026, 12, 7)));
        Assert.Equal(new DateOnly(2026, 12, 6), day);
        Assert.Empty(collector.TakeDaysBefore(new DateOnly(2026, 12, 7))); // taken once

        var report = JsonDocument.Parse(TlsReportDocument.Write("Example Sender", "mailto:tls@sender.example", "r1", day, policies.Where(p => p.PolicyDomain == "example.com"))).RootElement;
        Assert.Equal("Example Sender", report.GetProperty("organization-name").GetString());
        Assert.Equal("2026-12-06T00:00:00Z", report.GetProperty("date-range").GetProperty("start-datetime").GetString());
        Assert.Equal("2026-12-07T00:00:00Z", report.GetProperty("date-range").GetProperty("end-datetime").GetString());
        var policy = Assert.Single(report.GetProperty("policies").EnumerateArray());
        Assert.Equal("sts", policy.GetProperty("policy").GetProperty("policy-type").GetString());
        Assert.Equal("example.com", policy.GetProperty("policy").GetProperty("policy-domain").GetString());
        Assert.Equal(StsPolicy, policy.GetProperty("policy").GetProperty("policy-string").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(2, policy.GetProperty("summary").GetProperty("total-successful-session-count").GetInt32());
        Assert.Equal(1, policy.GetProperty("summary").GetProperty("total-failure-session-count").GetInt32());
        var failure = Assert.Single(policy.GetProperty("failure-details").EnumerateArray());
        Assert.Equal("certificate-host-mismatch", failure.GetProperty("result-type").GetString());
        Assert.Equal("192.0.2.1", failure.GetProperty("receiving-ip").GetString());
        Assert.Equal(1, failure.GetProperty("failed-session-count").GetInt32());
    }

    [Fact]
    public async Task A_report_goes_to_the_mailto_rua_as_a_gzipped_multipart_report_and_no_record_means_no_report()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 10, 0, 0, TimeSpan.Zero));
        var collector = new TlsReportCollector(time);
        collector.Record(new TlsSessionResult("example.com", TlsPolicyKind.Sts, StsPolicy, ["mx.example.com"]));
        collector.Record(new TlsSessionResult("silent.example", TlsPolicyKind.None, [], []));
        time.Advance(TimeSpan.FromDays(1));

        var queued = new List<TlsReportMail>();
        using var http = new HttpClient();
        var sender = MailtoSender(http, queued, time);
        var sent = await sender.SendFinishedDaysAsync(collector, CancellationToken.None);

        Assert.Single(sent);
        var mail = Assert.Single(queued);
        Assert.Equal("tlsrpt@example.com", mail.Recipient);
        var text = Encoding.ASCII.GetString(mail.Message);
        Assert.Contains("TLS-Report-Domain: example.com\r\n", text);
        Assert.Contains("multipart/report; report-type=\"tlsrpt\"", text);
        Assert.Contains("Content-Type: application/tlsrpt+gzip", text);
        var base64 = text.Split("\r\n\r\n")[4].Split("\r\n--")[0];
        using var gzip = new GZipStream(new MemoryStream(Convert.FromBase64String(base64)), CompressionMode.Decompress);
        var report = JsonDocument.Parse(gzip).RootElement;
        Assert.Equal("example.com", report.GetProperty("policies")[0].GetProperty("policy").GetProperty("policy-domain").GetString());
    }

    [Fact]
    public async Task The_days_counts_survive_a_restart_and_a_sent_report_is_not_sent_again()
    {
        var directory = Directory.CreateTempSubdirectory("tls-rpt-").FullName;
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 10, 0, 0, TimeSpan.Zero));
        var sts = new TlsSessionResult("example.com", TlsPolicyKind.Sts, StsPolicy, ["mx.example.com"]);
        var before = new TlsReportCollector(time, new TlsReportFile(directory));
        before.Record(sts);
        before.Record(sts);
        await before.SaveAsync(CancellationToken.None);

        // Restarted: a new collector on the same directory goes on counting the same day.
        time.Advance(TimeSpan.FromHours(5));
        var after = new TlsReportCollector(time, new TlsReportFile(directory));
        after.Record(sts with { FailureType = TlsResultType.StartTlsNotSupported, ReceivingMxHostname = "mx.example.com" });
        time.Advance(TimeSpan.FromDays(1));

        var queued = new List<TlsReportMail>();
        using var http = new HttpClient();
        var sender = MailtoSender(http, queued, time);
        Assert.Single(await sender.SendFinishedDaysAsync(after, CancellationToken.None));
        var summary = ReportOf(Assert.Single(queued)).GetProperty("policies")[0].GetProperty("summary");
        Assert.Equal(2, summary.GetProperty("total-successful-session-count").GetInt32());
        Assert.Equal(1, summary.GetProperty("total-failure-session-count").GetInt32());

        // Restarted again: the day is known as sent, and a session counted into it (a clock set back) is not kept.
        Assert.Empty(new TlsReportCollector(time, new TlsReportFile(directory)).FinishedDays(new DateOnly(2026, 12, 8)));
        var again = new TlsReportCollector(new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 23, 0, 0, TimeSpan.Zero)), new TlsReportFile(directory));
        again.Record(sts);
        Assert.Empty(again.FinishedDays(new DateOnly(2026, 12, 8)));
        Assert.Empty(await sender.SendFinishedDaysAsync(again, CancellationToken.None));
        Assert.Single(queued);
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public async Task A_record_that_cannot_be_looked_up_now_leaves_the_day_to_the_next_pass()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 10, 0, 0, TimeSpan.Zero));
        var collector = new TlsReportCollector(time);
        collector.Record(new TlsSessionResult("example.com", TlsPolicyKind.Sts, StsPolicy, ["mx.example.com"]));
        time.Advance(TimeSpan.FromDays(1));
        var resolver = new TxtOnly(new() { ["_smtp._tls.example.com"] = "v=TLSRPTv1; rua=mailto:tlsrpt@example.com" }) { Failing = true };
        var queued = new List<TlsReportMail>();
        using var http = new HttpClient();
        var sender = new TlsReportSender(resolver, http, new TlsReportIdentity("Example Sender", "mailto:tls@sender.example", "tls-reports@sender.example"),
            (mail, _) => { queued.Add(mail); return Task.CompletedTask; }, time);

        var first = Assert.Single(await sender.SendFinishedDaysAsync(collector, CancellationToken.None));

        Assert.Contains("could not be looked up now", first, StringComparison.Ordinal);
        Assert.Empty(queued);
        Assert.Single(collector.FinishedDays(new DateOnly(2026, 12, 7)));
        resolver.Failing = false;
        Assert.Contains("queued", Assert.Single(await sender.SendFinishedDaysAsync(collector, CancellationToken.None)), StringComparison.Ordinal);
        Assert.Single(queued);
        Assert.Empty(collector.FinishedDays(new DateOnly(2026, 12, 7)));
    }

    [Fact]
    public void A_tally_file_that_is_not_one_is_an_error_naming_it()
    {
        var directory = Directory.CreateTempSubdirectory("tls-rpt-").FullName;
        File.WriteAllText(Path.Combine(directory, TlsReportFile.FileName), "{not json");
        var error = Assert.Throws<InvalidDataException>(() => new TlsReportCollector(TimeProvider.System, new TlsReportFile(directory)));
        Assert.Contains(Path.Combine(directory, "tls-rpt.json"), error.Message, StringComparison.Ordinal);
        Directory.Delete(directory, recursive: true);
    }

    /// <summary>A sender for example.com's mailto: rua whose mail lands in <paramref name="queued"/>.</summary>
    private static TlsReportSender MailtoSender(HttpClient http, List<TlsReportMail> queued, TimeProvider time) =>
        new(new TxtOnly(new() { ["_smtp._tls.example.com"] = "v=TLSRPTv1; rua=mailto:tlsrpt@example.com" }), http,
            new TlsReportIdentity("Example Sender", "mailto:tls@sender.example", "tls-reports@sender.example"),
            (mail, _) => { queued.Add(mail); return Task.CompletedTask; }, time);

    private static JsonElement ReportOf(TlsReportMail mail)
    {
        var base64 = Encoding.ASCII.GetString(mail.Message).Split("\r\n\r\n")[4].Split("\r\n--")[0];
        using var gzip = new GZipStream(new MemoryStream(Convert.FromBase64String(base64)), CompressionMode.Decompress);
        return JsonDocument.Parse(gzip).RootElement.Clone();
    }

    private sealed class TxtOnly(Dictionary<string, string> records) : IDnsResolver
    {
        /// <summary>Every lookup answers a temporary failure (a SERVFAIL, a timeout) while set.</summary>
        public bool Failing { get; set; }

        public ValueTask<DnsResult<MxRecord>> ResolveMxAsync(string domain, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask<DnsResult<IPAddress>> ResolveAddressesAsync(string host, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask<DnsResult<string>> ResolveTxtAsync(string name, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Failing ? new DnsResult<string>(DnsStatus.TemporaryFailure, [])
                : records.TryGetValue(name, out var text) ? new DnsResult<string>(DnsStatus.Ok, [text]) : new DnsResult<string>(DnsStatus.NxDomain, []));
    }
}
