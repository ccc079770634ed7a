using ManycoreMail.Dkim;
using ManycoreMail.Dns.Spf;

namespace ManycoreMail.ReportAuthentication;

/// <summary>
/// What the SMTP client proved about a mail: the SPF verdict of its MAIL FROM identity (HELO for the null reverse-path,
/// RFC 7208 §2.4, the identity DMARC aligns) and every DKIM signature's result. A temperror of either is no pass.
/// </summary>
internal sealed record SenderAuthentication(SpfVerdict Spf, IReadOnlyList<DkimVerificationResult> Dkim)
{
    /// <summary>The domain SPF passed for, else null.</summary>
    public string? SpfPassDomain => Spf.Result == SpfResult.Pass && Spf.Domain.Length > 0 ? Spf.Domain.TrimEnd('.').ToLowerInvariant() : null;

    /// <summary>The d= domains of the signatures that verified (rsa-sha1 and testing keys excluded: RFC 8301 forbids
    /// relying on the first, RFC 6376 §3.6.1 says to treat the second as unsigned).</summary>
    public IEnumerable<string> DkimPassDomains => Dkim
        .Where(r => r is { Result: DkimResult.Pass, IsTesting: false, Domain: not null })
        .Select(r => r.Domain!.TrimEnd('.').ToLowerInvariant());

    /// <summary>True when SPF or any DKIM signature passed, for whatever domain.</summary>
    public bool AnyPass => SpfPassDomain is not null || DkimPassDomains.Any();

    /// <summary>For logs: <c>spf=pass (example.org) dkim=fail (example.org)</c>.</summary>
    public string Summary =>
        $"spf={Name(Spf.Result)} ({Spf.Domain}) dkim=" + (Dkim.Count == 0 ? "none" : string.Join(",", Dkim.Select(d => $"{d.Result.ToString().ToLowerInvariant()} ({d.Domain})")));

    private static string Name(SpfResult result) => result.ToString().ToLowerInvariant();
}
