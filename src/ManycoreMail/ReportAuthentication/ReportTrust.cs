using ManycoreMail.Mime;

namespace ManycoreMail.ReportAuthentication;

/// <summary>
/// Which reports the MX server may believe, from what <see cref="SenderAuthenticator"/> proved:
/// <list type="bullet">
/// <item>a bounce: SPF or DKIM passed (for the reporting server's own domain: a DSN comes from the recipient's MTA,
/// not from a domain we know), and the returned headers, when there, are those of the message the VERP address names,
/// sent to the recipient the bounce reports;</item>
/// <item>a complaint (ARF): it comes from a configured feedback loop (a DKIM pass with d= the loop's domain or a
/// subdomain, or an SPF pass for it), or it passes DMARC identifier alignment for its From domain (RFC 7489 §3.1);</item>
/// <item>an unsubscribe mail or an auto-reply: SPF or DKIM passed aligned with its From domain (the person).</item>
/// </list>
/// Alignment is relaxed: the same organizational domain (<see cref="PublicSuffixList"/>).
/// </summary>
internal sealed class ReportTrust(IReadOnlyList<string> feedbackLoops, PublicSuffixList suffixes)
{
    private readonly string[] _loops = feedbackLoops.Select(d => d.Trim().TrimEnd('.').ToLowerInvariant()).ToArray();

    public bool Bounce(SenderAuthentication sender, string? verpUuid, ReturnedHeaders? returned, string? recipient) =>
        sender.AnyPass && (returned is null || returned.Agrees(verpUuid, recipient));

    public bool Complaint(SenderAuthentication sender, string? authorDomain) =>
        FromFeedbackLoop(sender) || FromAligned(sender, authorDomain);

    /// <summary>SPF or DKIM passed for a domain of the same organization as <paramref name="authorDomain"/>.</summary>
    public bool FromAligned(SenderAuthentication sender, string? authorDomain)
    {
        if (authorDomain is null)
        {
            return false;
        }
        var organization = suffixes.OrganizationalDomain(authorDomain);
        return sender.DkimPassDomains.Append(sender.SpfPassDomain).Any(d => d is not null && suffixes.OrganizationalDomain(d) == organization);
    }

    /// <summary>True when a configured feedback loop's domain (or a subdomain of it) passed DKIM or SPF.</summary>
    public bool FromFeedbackLoop(SenderAuthentication sender) =>
        sender.DkimPassDomains.Append(sender.SpfPassDomain).Any(d => d is not null && _loops.Any(loop => IsWithin(d, loop)));

    /// <summary>The domain of the mail's single From address (RFC 7489 §6.6.1: none when the field is missing,
    /// repeated or names several authors).</summary>
    public static string? AuthorDomain(ReadOnlyMemory<byte> message)
    {
        if (!MessageHeaders.TryParse(message, out var headers, out _) || headers.All("From").Take(2).Count() != 1
            || AddressParser.ParseList(headers.First("From")!) is not [var author])
        {
            return null;
        }
        var at = author.Address.LastIndexOf('@');
        return at > 0 && at < author.Address.Length - 1 ? author.Address[(at + 1)..].TrimEnd('.').ToLowerInvariant() : null;
    }

    private static bool IsWithin(string domain, string parent) =>
        domain == parent || domain.EndsWith("." + parent, StringComparison.Ordinal);
}
