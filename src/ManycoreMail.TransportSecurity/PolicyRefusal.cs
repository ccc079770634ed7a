namespace ManycoreMail.TransportSecurity;

/// <summary>Why a domain's transport security policy refused a host, with the RFC 3463 enhanced status the deferral
/// carries: X.7.4 "security features not supported" when STARTTLS was required and not offered (or refused), X.7.5
/// "cryptographic failure" when the certificate, the handshake or the policy itself (no matching <c>mx</c> pattern,
/// a failed TLSA lookup) did not hold. RFC 8461 §5 and RFC 7672 §2.2 say "defer" without naming codes; these are the
/// ones the RFC 3463 registry defines for the two cases.</summary>
public sealed record PolicyRefusal(string EnhancedStatus, string Reason)
{
    public const string NoTlsStatus = "4.7.4";
    public const string PolicyStatus = "4.7.5";

    public static PolicyRefusal NoTls(string reason) => new(NoTlsStatus, reason);

    public static PolicyRefusal Failed(string reason) => new(PolicyStatus, reason);

    public override string ToString() => $"{EnhancedStatus} {Reason}";
}
