using ManycoreMail.Config;
using ManycoreMail.Suppression;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.MxServer;

/// <summary>
/// The suppression entries of a mail to <c>unsub-&lt;uuid&gt;@&lt;return-path domain&gt;</c>, in
/// <c>tracking/unsubscribe-scope</c> (sender when there is no tracking section). The MX server knows the uuid, not the
/// message's From, so it cannot name the sender or tenant the recipient left: a global scope gives a global entry; any
/// other gives a <c>domain</c> entry for every sending domain (transformer <c>domain-settings</c>) whose return-path
/// domain is the unsubscribe address's, a superset of the sender scope. When no sending domain has that return-path
/// domain (an <c>mxserver/domains</c> extra), the entry is global, with a warning: an unsubscribe is never dropped.
/// </summary>
internal sealed class UnsubscribeScopes
{
    private readonly SuppressionScope _scope;
    private readonly ILookup<string, string> _sendingDomainsByReturnPath;
    private readonly ILogger _logger;

    public UnsubscribeScopes(SuppressionScope scope, IReadOnlyList<DomainSettings> domains, ILogger logger)
    {
        _scope = scope;
        _logger = logger;
        _sendingDomainsByReturnPath = domains.ToLookup(d => Normalize(d.ReturnPathDomain), d => Normalize(d.Domain));
    }

    /// <summary>The entries for <paramref name="email"/>, who wrote to an unsubscribe address of <paramref name="returnPathDomain"/>.</summary>
    public IReadOnlyList<SuppressionEntry> For(string email, string returnPathDomain, DateTimeOffset now)
    {
        if (_scope == SuppressionScope.Global)
        {
            return [SuppressionEntry.Create(email, SuppressionScope.Global, null, SuppressionReason.Unsubscribe, now)];
        }
        var sendingDomains = _sendingDomainsByReturnPath[Normalize(returnPathDomain)].Distinct(StringComparer.Ordinal).ToArray();
        if (sendingDomains.Length == 0)
        {
            _logger.LogWarning("Unsubscribe mail from {Email} to a domain no sending domain returns to ({Domain}): suppressing it globally rather than in scope {Scope}",
                email, returnPathDomain, SuppressionNames.Name(_scope));
            return [SuppressionEntry.Create(email, SuppressionScope.Global, null, SuppressionReason.Unsubscribe, now)];
        }
        return sendingDomains.Select(d => SuppressionEntry.Create(email, SuppressionScope.Domain, d, SuppressionReason.Unsubscribe, now)).ToArray();
    }

    private static string Normalize(string domain) => domain.Trim().TrimEnd('.').ToLowerInvariant();
}
