using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using ManycoreMail.Smtp;
using ManycoreMail.Smtp.Client;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Delivery;

internal enum AdaptiveAction
{
    /// <summary>No delivery to the site (or from the source) until the duration ends.</summary>
    Suspend,
    /// <summary>The site's connection and rate limits narrowed by the rule's limits until the duration ends.</summary>
    Throttle,
    /// <summary>The scheduled queue of the message bounced (as <c>mailer queue bounce</c>) for the duration.</summary>
    Bounce,
}

/// <summary>A suspension applies to the site (one MX host set from one source), or to the source towards every site.</summary>
internal enum AdaptiveScope
{
    Site,
    Source,
}

/// <summary>
/// A <c>sender/adaptive-shaping</c> rule: a remote reply that matches (its code, its enhanced code, its text by regular
/// expression) from a site that matches (a provider, i.e. a shaping rule name such as gmail; recipient domains; MX
/// host suffixes; any site when none is given) triggers <see cref="Action"/> for <see cref="Duration"/>.
/// </summary>
internal sealed record AdaptiveRule(string Name, AdaptiveAction Action, TimeSpan Duration)
{
    public string? Provider { get; init; }
    public IReadOnlyList<string> Domains { get; init; } = [];
    public IReadOnlyList<string> MxSuffixes { get; init; } = [];
    /// <summary>The basic reply code (421), null: any.</summary>
    public int? Code { get; init; }
    /// <summary>The enhanced status code (4.7.28), null: any.</summary>
    public string? EnhancedCode { get; init; }
    public Regex? Match { get; init; }
    /// <summary>For <see cref="AdaptiveAction.Throttle"/>: the limits the site is narrowed to.</summary>
    public SiteLimits? Limits { get; init; }
    public AdaptiveScope Scope { get; init; } = AdaptiveScope.Site;

    public bool Matches(SiteEgress site, string domain, SmtpReply reply)
    {
        if (Code is { } code && reply.Code != code)
        {
            return false;
        }
        if (EnhancedCode is { } enhanced && !string.Equals(reply.EnhancedStatus, enhanced, StringComparison.Ordinal))
        {
            return false;
        }
        if (Match is { } match && !match.IsMatch(reply.Text))
        {
            return false;
        }
        if (Provider is null && Domains.Count == 0 && MxSuffixes.Count == 0)
        {
            return true;
        }
        return (Provider is not null && string.Equals(Provider, site.Provider, StringComparison.OrdinalIgnoreCase))
            || new ShapingRule(Name, Domains, MxSuffixes, SiteLimits.Default).Matches(domain, site.MxHosts);
    }

    /// <summary>"421", "4.7.28" or "421 4.7.28": the code and enhanced code a rule's <c>code</c> holds; null when it is neither.</summary>
    public static (int? Code, string? Enhanced)? ParseCode(string text)
    {
        int? code = null;
        string? enhanced = null;
        foreach (var part in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part.Length == 3 && int.TryParse(part, out var c) && c is >= 200 and < 600 && code is null)
            {
                code = c;
            }
            else if (enhanced is null && IsEnhanced(part))
            {
                enhanced = part;
            }
            else
            {
                return null;
            }
        }
        return code is null && enhanced is null ? null : (code, enhanced);
    }

    private static bool IsEnhanced(string part)
    {
        var pieces = part.Split('.');
        return pieces.Length == 3 && pieces[0] is "2" or "4" or "5" && pieces.Skip(1).All(p => p.Length is > 0 and <= 3 && p.All(char.IsAsciiDigit));
    }
}

/// <summary>
/// The adaptive rules we ship, for the throttling replies the large providers document. Each is matched on the codes and
/// the wording of the provider's public page:
/// <list type="bullet">
/// <item>Gmail, "SMTP errors and codes" (https://support.google.com/a/answer/3726730): 421 4.7.28 "unusual rate of
/// unsolicited mail ... temporarily rate limited"; 421 4.7.0 "... temporarily rate limited" (low IP reputation);
/// 450 4.2.1 "receiving mail at a rate that prevents additional messages" / "rate limited".</item>
/// <item>Yahoo and AOL, "SMTP Error Codes" (https://senders.yahooinc.com/smtp-error-codes/): 421 4.7.0 [TSS04]
/// "temporarily deferred due to unexpected volume or user complaints"; [TSS09] "All messages from [IP] will be
/// permanently deferred; Retrying will NOT succeed".</item>
/// <item>Microsoft, "Email non-delivery reports and SMTP errors in Exchange Online"
/// (https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/non-delivery-reports-in-exchange-online/non-delivery-reports-in-exchange-online)
/// and the Outlook.com postmaster pages: 451 4.7.650 / 4.7.651 "temporarily rate limited due to IP reputation";
/// 550 5.7.708 "Access denied, traffic not accepted from this IP".</item>
/// </list>
/// The durations follow the providers' advice to slow down for hours rather than retry at once.
/// </summary>
internal static class ShippedAdaptiveShaping
{
    private static readonly SiteLimits Gentle = new() { MaxConnections = 1, MaxDeliveriesPerConnection = 20, MessagesPerMinute = 30 };

    public static readonly IReadOnlyList<AdaptiveRule> Rules =
    [
        new("gmail-unusual-rate", AdaptiveAction.Suspend, TimeSpan.FromHours(1)) { Provider = "gmail", Code = 421, EnhancedCode = "4.7.28" },
        new("gmail-ip-rate-limited", AdaptiveAction.Throttle, TimeSpan.FromHours(1))
        {
            Provider = "gmail", Code = 421, EnhancedCode = "4.7.0", Match = Pattern("rate limited"), Limits = Gentle,
        },
        new("gmail-receiving-rate", AdaptiveAction.Throttle, TimeSpan.FromMinutes(30))
        {
            Provider = "gmail", Code = 450, EnhancedCode = "4.2.1", Match = Pattern(@"rate (limited|that prevents)"), Limits = Gentle,
        },
        new("yahoo-tss04", AdaptiveAction.Suspend, TimeSpan.FromHours(1)) { Provider = "yahoo", Code = 421, Match = Pattern(@"\[TSS04\]") },
        new("yahoo-tss09", AdaptiveAction.Suspend, TimeSpan.FromHours(4)) { Provider = "yahoo", Code = 421, Match = Pattern(@"\[TSS09\]") },
        new("outlook-ip-reputation", AdaptiveAction.Throttle, TimeSpan.FromHours(1))
        {
            Provider = "outlook", Code = 451, Match = Pattern(@"4\.7\.65[01]|rate limited due to IP reputation"), Limits = Gentle,
        },
        new("outlook-traffic-refused", AdaptiveAction.Suspend, TimeSpan.FromHours(4))
        {
            Provider = "outlook", Code = 550, EnhancedCode = "5.7.708",
        },
    ];

    private static Regex Pattern(string pattern) =>
        new(pattern, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
}

/// <summary>Who a site sends as and to whom: what adaptive rules match on.</summary>
internal sealed record SiteEgress(EgressSource Source, string Provider, IReadOnlyList<string> MxHosts, IReplyObserver? Observer);

/// <summary>Sees every reply a site gave that was not positive.</summary>
internal interface IReplyObserver
{
    void Observe(DeliverySite site, DeliveryJob job, SmtpReply reply);
}

/// <summary>What the engine counts of egress (the host turns it into metric families).</summary>
internal interface IEgressMetrics
{
    void SourceChosen(string pool, string source);

    void AdaptiveAction(string rule, string action);
}

/// <summary>An adaptive suspension or throttle of one site, as an operator sees it.</summary>
internal sealed record AdaptationView(string Rule, string Action, DateTimeOffset Until, string Reply);

/// <summary>
/// The adaptive state of one site: a suspension, or narrowed limits with their own rate limiter, each until a time.
/// Thread-safe; the site asks it before each delivery and before opening a connection.
/// </summary>
internal sealed class SiteAdaptation
{
    private readonly Lock _lock = new();
    private AdaptationView? _suspension;
    private AdaptationView? _throttle;
    private SiteLimits? _limits;
    private SiteRateLimiter? _rate;

    public void Suspend(AdaptationView suspension)
    {
        lock (_lock)
        {
            _suspension = suspension;
        }
    }

    public void Throttle(AdaptationView throttle, SiteLimits limits)
    {
        lock (_lock)
        {
            _throttle = throttle;
            if (_limits != limits)
            {
                _limits = limits;
                _rate = new SiteRateLimiter(limits);
            }
        }
    }

    public DateTimeOffset? SuspendedUntil(DateTimeOffset now)
    {
        lock (_lock)
        {
            return _suspension is { } s && s.Until > now ? s.Until : null;
        }
    }

    public int MaxConnections(int normal, DateTimeOffset now)
    {
        lock (_lock)
        {
            return _throttle is { } t && t.Until > now && _limits is { } l ? Math.Min(normal, l.MaxConnections) : normal;
        }
    }

    /// <summary>A delivery slot under the throttled limits (zero) or how long until one is free.</summary>
    public TimeSpan TryAcquire(DateTimeOffset now)
    {
        lock (_lock)
        {
            return _throttle is { } t && t.Until > now && _rate is { } rate ? rate.TryAcquire(now) : TimeSpan.Zero;
        }
    }

    public bool IsActive(DateTimeOffset now) => Active(now).Count > 0;

    public IReadOnlyList<AdaptationView> Active(DateTimeOffset now)
    {
        lock (_lock)
        {
            return new[] { _suspension, _throttle }.Where(v => v is not null && v.Until > now).Select(v => v!).ToArray();
        }
    }

    /// <summary>Lifts both (<c>mailer site resume</c>); false when neither stood.</summary>
    public bool Clear(DateTimeOffset now)
    {
        lock (_lock)
        {
            var had = (_suspension?.Until > now) || (_throttle?.Until > now);
            _suspension = null;
            _throttle = null;
            _limits = null;
            _rate = null;
            return had;
        }
    }
}

/// <summary>
/// Applies the adaptive rules to the replies sites receive: the first rule that matches acts (suspend the site or its
/// source, throttle the site, bounce the message's queue), once while its action stands. Every action is a Warning log
/// line with its fields and a count in <see cref="IEgressMetrics.AdaptiveAction"/>.
/// </summary>
internal sealed class AdaptiveShaping(IReadOnlyList<AdaptiveRule> rules, PoolSelection pools, Func<string, TimeSpan, int> bounceQueue,
    IEgressMetrics? metrics, TimeProvider time, ILogger logger, Action<OperationChange>? publish = null) : IReplyObserver
{
    /// <summary>Bounce directives by queue, so that a burst of matching replies bounces a queue once.</summary>
    private readonly ConcurrentDictionary<string, DateTimeOffset> _bounced = new(StringComparer.OrdinalIgnoreCase);

    public void Observe(DeliverySite site, DeliveryJob job, SmtpReply reply)
    {
        if (site.Egress is not { } egress)
        {
            return;
        }
        foreach (var rule in rules)
        {
            if (rule.Matches(egress, job.Domain, reply))
            {
                Apply(rule, site, egress, job, reply);
                return;
            }
        }
    }

    private void Apply(AdaptiveRule rule, DeliverySite site, SiteEgress egress, DeliveryJob job, SmtpReply reply)
    {
        var now = time.GetUtcNow();
        var until = now + rule.Duration;
        var view = new AdaptationView(rule.Name, ActionName(rule.Action), until, reply.ToString());
        string target;
        switch (rule.Action)
        {
            case AdaptiveAction.Suspend when rule.Scope == AdaptiveScope.Source:
                if (pools.SuspendedSources.Any(s => string.Equals(s.Key, egress.Source.Name, StringComparison.OrdinalIgnoreCase)))
                {
                    return;
                }
                pools.Suspend(egress.Source.Name, until);
                publish?.Invoke(new OperationChange(new OperationEntry(OperationKind.SourceSuspended, egress.Source.Name, until)));
                target = "source " + egress.Source.Name;
                break;
            case AdaptiveAction.Suspend:
                if (site.Adaptation.SuspendedUntil(now) is not null)
                {
                    return;
                }
                site.SuspendFor(view);
                publish?.Invoke(new OperationChange(OperationEntry.Adaptive(OperationKind.SiteAdaptiveSuspended, site.Name, view)));
                target = "site " + site.Name;
                break;
            case AdaptiveAction.Throttle:
                if (site.Adaptation.Active(now).Any(v => v.Action == "throttle" && v.Rule == rule.Name))
                {
                    return;
                }
                site.Adaptation.Throttle(view, rule.Limits ?? SiteLimits.Default);
                publish?.Invoke(new OperationChange(OperationEntry.Adaptive(OperationKind.SiteThrottled, site.Name, view)));
                target = "site " + site.Name;
                break;
            default:
                if (_bounced.TryGetValue(job.Queue, out var standing) && standing > now)
                {
                    return;
                }
                _bounced[job.Queue] = until;
                bounceQueue(job.Queue, rule.Duration);
                target = "queue " + job.Queue;
                break;
        }
        metrics?.AdaptiveAction(rule.Name, view.Action);
        logger.LogWarning("Adaptive shaping {Rule}: {Action} {Target} until {Until:u} ({Duration}) after {Reply} (source {Source}, provider {Provider}, site {Site})",
            rule.Name, view.Action, target, until, rule.Duration, view.Reply, egress.Source.Name, egress.Provider, site.Name);
    }

    public static string ActionName(AdaptiveAction action) => action switch
    {
        AdaptiveAction.Suspend => "suspend",
        AdaptiveAction.Throttle => "throttle",
        _ => "bounce",
    };

    /// <summary>Every non-positive reply of a transaction, each distinct one once (fifty RCPT refusals are one signal).</summary>
    public static IEnumerable<SmtpReply> Refusals(SmtpTransactionResult result)
    {
        var seen = new HashSet<SmtpReply>();
        IEnumerable<SmtpReply> all = [result.MailFromReply, .. result.RecipientReplies.Select(r => r.Reply), .. result.DataReply is { } d ? [d] : Array.Empty<SmtpReply>()];
        foreach (var reply in all)
        {
            if (!reply.IsPositive && seen.Add(reply))
            {
                yield return reply;
            }
        }
    }
}
