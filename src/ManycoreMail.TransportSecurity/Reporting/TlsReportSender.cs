using System.Globalization;
using System.IO.Compression;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using ManycoreMail.Dns;

namespace ManycoreMail.TransportSecurity.Reporting;

/// <summary>A report to be mailed: the host queues <see cref="Message"/> (a whole RFC 5322 message) for
/// <see cref="Recipient"/> as an outgoing message.</summary>
public sealed record TlsReportMail(string Recipient, string ReportDomain, byte[] Message);

/// <summary>Who the reports say they are from (<c>sender/tls-rpt</c>).</summary>
/// <param name="From">The From address of mailed reports.</param>
public sealed record TlsReportIdentity(string Organization, string Contact, string From);

/// <summary>Sends each policy domain's daily report to the <c>rua</c> of its <c>_smtp._tls</c> record (RFC 8460 §3):
/// gzip-compressed JSON posted to https: addresses (§5.4), or a multipart/report message to mailto: addresses (§5.3)
/// handed to <paramref name="queueMail"/>. Domains without a record get no report.</summary>
public sealed class TlsReportSender(IDnsResolver resolver, HttpClient http, TlsReportIdentity identity, Func<TlsReportMail, CancellationToken, Task> queueMail, TimeProvider time)
{
    /// <summary>Sends every finished day of <paramref name="collector"/>; returns what went where, for the log. Each
    /// domain's report is marked sent and the collector saved as soon as it went out, so a crash or a stop part way
    /// re-sends at most the one report in flight. A report is sent once: an https address that failed is not retried
    /// (RFC 8460 §5 leaves retries to the sender; a day's report a day late has little use). A domain whose TLSRPT
    /// record could not be looked up (a temporary DNS failure: SERVFAIL, a timeout) is not marked: it is tried again at
    /// the next call, since a resolver's bad minute says nothing about whether the domain wants reports.</summary>
    public async Task<IReadOnlyList<string>> SendFinishedDaysAsync(TlsReportCollector collector, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(collector);
        var sent = new List<string>();
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        foreach (var (day, policies) in collector.FinishedDays(today))
        {
            foreach (var domain in policies.GroupBy(p => p.PolicyDomain))
            {
                if (await SendAsync(domain.Key, day, [.. domain], cancellationToken).ConfigureAwait(false) is not { } outcomes)
                {
                    sent.Add($"{domain.Key} {day:yyyy-MM-dd}: its _smtp._tls record could not be looked up now; tried again at the next pass");
                    continue;
                }
                sent.AddRange(outcomes);
                collector.MarkSent(day, domain.Key);
                await collector.SaveAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        return sent;
    }

    /// <summary>Sends one domain's report of a day to every address its record names; what went where, or null when the
    /// record could not be looked up now.</summary>
    private async Task<IReadOnlyList<string>?> SendAsync(string domain, DateOnly day, IReadOnlyList<TlsPolicyTally> policies, CancellationToken cancellationToken)
    {
        var txt = await resolver.ResolveTxtAsync("_smtp._tls." + domain, cancellationToken).ConfigureAwait(false);
        if (txt.Status == DnsStatus.TemporaryFailure)
        {
            return null;
        }
        var record = txt.IsOk ? TlsRptRecord.Select(txt.Records) : null;
        if (record is null)
        {
            return [];
        }

        var reportId = $"{day:yyyyMMdd}.{domain}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}@{identity.Organization.Replace(' ', '-')}";
        var json = TlsReportDocument.Write(identity.Organization, identity.Contact, reportId, day, policies);
        var gzip = Gzip(json);
        var outcomes = new List<string>();
        foreach (var uri in record.ReportUris)
        {
            try
            {
                if (uri.Scheme == Uri.UriSchemeHttps)
                {
                    using var content = new ByteArrayContent(gzip);
                    content.Headers.ContentType = new MediaTypeHeaderValue("application/tlsrpt+gzip");
                    using var response = await http.PostAsync(uri, content, cancellationToken).ConfigureAwait(false);
                    outcomes.Add($"{domain} {day:yyyy-MM-dd} to {uri}: HTTP {(int)response.StatusCode}");
                }
                else
                {
                    var recipient = Uri.UnescapeDataString(uri.AbsoluteUri["mailto:".Length..]).Split('?')[0];
                    await queueMail(new TlsReportMail(recipient, domain, Mail(recipient, domain, reportId, day, gzip)), cancellationToken).ConfigureAwait(false);
                    outcomes.Add($"{domain} {day:yyyy-MM-dd} to {recipient}: queued");
                }
            }
            catch (HttpRequestException e)
            {
                outcomes.Add($"{domain} {day:yyyy-MM-dd} to {uri}: {e.Message}");
            }
        }

        return outcomes;
    }

    private static byte[] Gzip(byte[] json)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal))
        {
            gzip.Write(json);
        }

        return output.ToArray();
    }

    /// <summary>RFC 8460 §5.3: the report as an application/tlsrpt+gzip part of a multipart/report; report-type=tlsrpt,
    /// with TLS-Report-Domain and TLS-Report-Submitter header fields and the subject the RFC suggests.</summary>
    private byte[] Mail(string recipient, string domain, string reportId, DateOnly day, byte[] gzip)
    {
        var boundary = "tlsrpt-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var submitter = identity.Organization;
        var text = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"From: {identity.From}\r\n")
            .Append(CultureInfo.InvariantCulture, $"To: {recipient}\r\n")
            .Append(CultureInfo.InvariantCulture, $"Subject: Report Domain: {domain} Submitter: {submitter} Report-ID: <{reportId}>\r\n")
            .Append(CultureInfo.InvariantCulture, $"Date: {time.GetUtcNow().ToString("r", CultureInfo.InvariantCulture)}\r\n")
            .Append(CultureInfo.InvariantCulture, $"Message-ID: <{reportId}>\r\n")
            .Append(CultureInfo.InvariantCulture, $"TLS-Report-Domain: {domain}\r\n")
            .Append(CultureInfo.InvariantCulture, $"TLS-Report-Submitter: {submitter}\r\n")
            .Append("MIME-Version: 1.0\r\n")
            .Append(CultureInfo.InvariantCulture, $"Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"{boundary}\"\r\n\r\n")
            .Append(CultureInfo.InvariantCulture, $"--{boundary}\r\n")
            .Append("Content-Type: text/plain; charset=us-ascii\r\n\r\n")
            .Append(CultureInfo.InvariantCulture, $"This is an aggregate TLS report from {submitter} for {domain} on {day:yyyy-MM-dd}.\r\n\r\n")
            .Append(CultureInfo.InvariantCulture, $"--{boundary}\r\n")
            .Append("Content-Type: application/tlsrpt+gzip\r\n")
            .Append("Content-Transfer-Encoding: base64\r\n")
            .Append(CultureInfo.InvariantCulture, $"Content-Disposition: attachment; filename=\"{submitter.Replace(' ', '-')}!{domain}!{day:yyyyMMdd}!{day.AddDays(1):yyyyMMdd}.json.gz\"\r\n\r\n")
            .Append(Convert.ToBase64String(gzip, Base64FormattingOptions.InsertLineBreaks))
            .Append(CultureInfo.InvariantCulture, $"\r\n--{boundary}--\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }
}
