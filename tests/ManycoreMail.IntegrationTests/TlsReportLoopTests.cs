using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using ManycoreMail.Config;
using ManycoreMail.Dns;
using ManycoreMail.Hosting;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.TestSupport;
using ManycoreMail.TransportSecurity;
using ManycoreMail.TransportSecurity.Reporting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.IntegrationTests;

/// <summary>The sender's <c>tls-reports</c> loop as the host wires it, against real peers: nsd and unbound publish
/// the <c>_smtp._tls</c> record, Kestrel with a certificate from a test CA (trusted through <c>sender/ca-file</c>)
/// receives the https: report, the embedded spool takes the mailto: one. A fake clock ends the day.</summary>
public sealed class TlsReportLoopTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly string[] StsPolicy = ["version: STSv1", "mode: enforce", "mx: mx.rpt.test", "max_age: 86400"];

    [Fact]
    public async Task A_day_counted_across_a_restart_is_posted_gzipped_to_the_https_rua_and_queued_for_the_mailto_rua_once()
    {
        var directory = Directory.CreateTempSubdirectory("tls-rpt-loop-").FullName;
        using var ca = TestPki.CreateCa("TLS-RPT test CA");
        var caFile = Path.Combine(directory, "ca.pem");
        File.WriteAllText(caFile, ca.ExportCertificatePem());

        var posts = new ConcurrentQueue<(string? ContentType, byte[] Body)>();
        var web = WebApplication.CreateSlimBuilder();
        web.Logging.ClearProviders();
        using var serverCertificate = TestPki.Issue(ca, "reports.rpt.test");
        web.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(serverCertificate)));
        await using var reportServer = web.Build();
        reportServer.MapPost("/tlsrpt", async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            posts.Enqueue((context.Request.ContentType, body.ToArray()));
            context.Response.StatusCode = StatusCodes.Status202Accepted;
        });
        await reportServer.StartAsync();
        var port = new Uri(reportServer.Urls.Single()).Port;

        using var dns = await SignedDns.StartAsync("rpt.test", [
            "reports A 127.0.0.1",
            $"_smtp._tls TXT \"v=TLSRPTv1; rua=https://reports.rpt.test:{port}/tlsrpt,mailto:tlsrpt@rpt.test\"",
        ]);
        using var resolver = new DnsResolver(DnsResolverOptions.FromServers([dns.EndPoint.ToString()]));
        await using var spool = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(directory, "spool") }, TimeProvider.System, CancellationToken.None);
        var options = Options(directory, caFile);
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 10, 0, 0, TimeSpan.Zero));
        var sts = new TlsSessionResult("rpt.test", TlsPolicyKind.Sts, StsPolicy, ["mx.rpt.test"]);

        // Two sessions, then a clean stop: the loop writes the counts on its way out.
        await RunAsync(options, resolver, spool, time, wiring =>
        {
            wiring.Collector!.Record(sts);
            wiring.Collector!.Record(sts);
            return Task.CompletedTask;
        });
        Assert.True(File.Exists(Path.Combine(directory, TlsReportFile.FileName)));

        // Restarted: a failure the same day, then the day ends while the loop runs.
        await RunAsync(options, resolver, spool, time, async wiring =>
        {
            wiring.Collector!.Record(sts with { FailureType = TlsResultType.CertificateHostMismatch, ReceivingMxHostname = "mx.rpt.test", ReceivingIp = IPAddress.Parse("192.0.2.7") });
            // Written within the save interval while running, not only at the stop: a crash loses at most that much.
            var file = Path.Combine(directory, TlsReportFile.FileName);
            await Eventually.TrueAsync(() =>
            {
                time.Advance(TimeSpan.FromSeconds(30));
                return File.ReadAllText(file).Contains("certificate-host-mismatch", StringComparison.Ordinal);
            }, Deadline, "the failure saved by the running loop");
            // Half an hour at a time, as often as the test polls: each step wakes the loop's timer.
            await Eventually.TrueAsync(async () =>
            {
                time.Advance(TimeSpan.FromMinutes(30));
                return !posts.IsEmpty && await spool.CountAsync(options.Queues.Outbound, CancellationToken.None) > 0
                    && wiring.Collector!.FinishedDays(new DateOnly(2026, 12, 31)).Count == 0;
            }, Deadline, "the report posted and queued once the day ended");
        });

        var (contentType, gzip) = Assert.Single(posts);
        Assert.Equal("application/tlsrpt+gzip", contentType);
        var report = Decompress(gzip);
        Assert.Equal("Example Sender", report.GetProperty("organization-name").GetString());
        Assert.Equal("2026-12-06T00:00:00Z", report.GetProperty("date-range").GetProperty("start-datetime").GetString());
        Assert.Equal("2026-12-07T00:00:00Z", report.GetProperty("date-range").GetProperty("end-datetime").GetString());
        var policy = Assert.Single(report.GetProperty("policies").EnumerateArray());
        Assert.Equal("sts", policy.GetProperty("policy").GetProperty("policy-type").GetString());
        Assert.Equal("rpt.test", policy.GetProperty("policy").GetProperty("policy-domain").GetString());
        Assert.Equal(2, policy.GetProperty("summary").GetProperty("total-successful-session-count").GetInt32());
        Assert.Equal(1, policy.GetProperty("summary").GetProperty("total-failure-session-count").GetInt32());
        var failure = Assert.Single(policy.GetProperty("failure-details").EnumerateArray());
        Assert.Equal("certificate-host-mismatch", failure.GetProperty("result-type").GetString());
        Assert.Equal("192.0.2.7", failure.GetProperty("receiving-ip").GetString());

        // The same report as mail on the outbound queue (RFC 8460 §5.3).
        var mail = Assert.Single(await spool.LeaseAsync(options.Queues.Outbound, 10, TimeSpan.FromMinutes(1), CancellationToken.None));
        Assert.Equal("tlsrpt@rpt.test", Assert.Single(mail.Envelope.Recipients));
        Assert.Equal("tls-reports@sender.test", mail.Envelope.ReturnPath);
        var text = Encoding.ASCII.GetString(mail.Body.Span);
        var headers = text[..text.IndexOf("\r\n\r\n", StringComparison.Ordinal)];
        Assert.Contains("\r\nTLS-Report-Domain: rpt.test\r\n", headers, StringComparison.Ordinal);
        Assert.Contains("\r\nTLS-Report-Submitter: Example Sender\r\n", headers, StringComparison.Ordinal);
        Assert.Matches(@"\r\nSubject: Report Domain: rpt\.test Submitter: Example Sender Report-ID: <[^>]+>\r\n", headers);
        Assert.Contains("\r\nContent-Type: multipart/report; report-type=\"tlsrpt\"; boundary=", headers, StringComparison.Ordinal);
        Assert.StartsWith("From: tls-reports@sender.test\r\n", headers, StringComparison.Ordinal);

        // Restarted once more: the day is remembered as sent, so nothing is left to report.
        using (var wiring = TransportSecurityWiring.Create(options, resolver, time))
        {
            Assert.Empty(wiring.Collector!.FinishedDays(new DateOnly(2026, 12, 31)));
        }

        Directory.Delete(directory, recursive: true);
    }

    /// <summary>One run of the host's transport security loops: started, <paramref name="during"/>, stopped.</summary>
    private static async Task RunAsync(MailerOptions options, IDnsResolver resolver, IQueueStore spool, TimeProvider time, Func<TransportSecurityWiring, Task> during)
    {
        using var wiring = TransportSecurityWiring.Create(options, resolver, time);
        var roles = wiring.Roles(options, resolver, spool, time, NullLogger.Instance);
        Assert.Contains(roles, r => r.Name == "tls-reports");
        foreach (var role in roles)
        {
            await role.StartAsync(CancellationToken.None);
        }

        try
        {
            await during(wiring);
        }
        finally
        {
            foreach (var role in roles)
            {
                await role.StopAsync(CancellationToken.None);
            }
        }
    }

    private static MailerOptions Options(string directory, string caFile) => new()
    {
        Queues = new QueueNames("MAIL", "DEFAULT", "OUT", "EVENTS"),
        Storage = new StorageOptions(directory),
        Redis = new RedisOptions("127.0.0.1", 6379),
        Sender = new SenderOptions
        {
            HeloName = "mailer.sender.test",
            TransportSecurity = new TransportSecurityOptions
            {
                MtaSts = false,
                Dane = false,
                CaFile = caFile,
                TlsRpt = new TlsReportingOptions("Example Sender", "mailto:tls-reports@sender.test"),
            },
        },
        MetricsBinds = [],
        ReturnPathDomains = [],
    };

    private static JsonElement Decompress(byte[] gzip)
    {
        using var json = new GZipStream(new MemoryStream(gzip), CompressionMode.Decompress);
        return JsonDocument.Parse(json).RootElement.Clone();
    }
}
