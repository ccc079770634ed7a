namespace ManycoreMail.Dkim;

/// <summary>The RFC 8601 §2.7.1 result of one DKIM signature.</summary>
public enum DkimResult
{
    /// <summary>The signature verified.</summary>
    Pass,
    /// <summary>The signature was processed and did not verify (body hash or signature mismatch).</summary>
    Fail,
    /// <summary>The signature verified but is not acceptable by policy: rsa-sha1 (RFC 8301 §3.1).</summary>
    Policy,
    /// <summary>The key could not be fetched for a temporary reason (DNS); a later try may succeed.</summary>
    TempError,
    /// <summary>The signature or its key record could not be processed (syntax, missing or revoked key, expiry).</summary>
    PermError,
}

/// <summary>What became of one DKIM-Signature field.</summary>
/// <param name="Domain">The d= tag, when the field had one.</param>
/// <param name="Selector">The s= tag, when the field had one.</param>
/// <param name="Reason">Why, in words, for logs and Authentication-Results comments.</param>
/// <param name="Algorithm">The a= tag, when the field had one.</param>
/// <param name="IsWeak">The algorithm is rsa-sha1, which RFC 8301 forbids relying on.</param>
/// <param name="IsTesting">The key record carries t=y: the domain is testing DKIM.</param>
public sealed record DkimVerificationResult(
    DkimResult Result,
    string? Domain,
    string? Selector,
    string Reason,
    string? Algorithm = null,
    bool IsWeak = false,
    bool IsTesting = false);
