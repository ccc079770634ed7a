using System.Net;

namespace ManycoreMail.Dns.Spf;

/// <summary>The results of RFC 7208 section 2.6.</summary>
public enum SpfResult
{
    None,
    Neutral,
    Pass,
    Fail,
    SoftFail,
    TempError,
    PermError,
}

/// <summary>One check's answer: the result, the domain whose policy gave it, and why (for logs and
/// Received-SPF comments; never the explanation string a policy publishes, which is untrusted).</summary>
public sealed record SpfVerdict(SpfResult Result, string Domain, string Reason);

/// <summary>Checks whether a client may send mail for a domain (RFC 7208 check_host()).</summary>
public interface ISpfChecker
{
    /// <summary>Checks the MAIL FROM identity (the HELO identity when <paramref name="mailFrom"/> is empty, the null
    /// reverse-path). Never throws for bad DNS data: that is a permerror or temperror verdict.</summary>
    ValueTask<SpfVerdict> CheckAsync(IPAddress client, string helo, string mailFrom, CancellationToken cancellationToken);
}
