using System.Net;

namespace ManycoreMail.TransportSecurity.Reporting;

/// <summary>RFC 8460 §4.3 result types a sender can observe.</summary>
public static class TlsResultType
{
    public const string StartTlsNotSupported = "starttls-not-supported";
    public const string CertificateHostMismatch = "certificate-host-mismatch";
    public const string CertificateExpired = "certificate-expired";
    public const string CertificateNotTrusted = "certificate-not-trusted";
    public const string ValidationFailure = "validation-failure";
    public const string TlsaInvalid = "tlsa-invalid";
    public const string DnssecInvalid = "dnssec-invalid";
    public const string DaneRequired = "dane-required";
    public const string StsPolicyFetchError = "sts-policy-fetch-error";
    public const string StsPolicyInvalid = "sts-policy-invalid";
    public const string StsWebPkiInvalid = "sts-webpki-invalid";
}

/// <summary>One TLS session attempt (or a policy that could not be had) as TLS-RPT counts it.</summary>
/// <param name="PolicyDomain">The recipient domain whose policy applied.</param>
/// <param name="Kind">Which policy; <see cref="TlsPolicyKind.None"/> reports as "no-policy-found".</param>
/// <param name="PolicyStrings">The policy as published: the MTA-STS policy's lines, or each TLSA record.</param>
/// <param name="FailureType">Null for a successful session, else a <see cref="TlsResultType"/>.</param>
public sealed record TlsSessionResult(
    string PolicyDomain,
    TlsPolicyKind Kind,
    IReadOnlyList<string> PolicyStrings,
    IReadOnlyList<string> MxPatterns,
    string? FailureType = null,
    string? ReceivingMxHostname = null,
    IPAddress? ReceivingIp = null,
    IPAddress? SendingMtaIp = null,
    string? FailureReasonCode = null)
{
    public bool Succeeded => FailureType is null;
}

/// <summary>Where the connector reports each session's outcome.</summary>
public interface ITlsReportSink
{
    void Record(TlsSessionResult result);
}
