using ManycoreMail.AutoSuppression;
using ManycoreMail.Classification;
using ManycoreMail.Config;
using ManycoreMail.Delivery;
using ManycoreMail.Events;
using ManycoreMail.Queue;
using ManycoreMail.Suppression;

namespace ManycoreMail.Roles.Sender;

/// <summary>One recipient's outcome with the scheduled queue it belongs to.</summary>
internal readonly record struct QueuedOutcome(string Queue, RecipientOutcome Outcome);

/// <summary>What settling a message decided, for logs and metrics.</summary>
/// <param name="Suppressions">Entries the bounces ask for (<see cref="AutomaticEntries"/>), to add once the transaction is committed.</param>
internal sealed record Settlement(QueueTransaction Transaction, DateTimeOffset? RetryAt, IReadOnlyList<RecipientOutcome.Deferred> Retried,
    IReadOnlyList<RecipientOutcome.Bounced> Expired, IReadOnlyList<SuppressionEntry> Suppressions)
{
    /// <summary>False when every retried recipient was only rescheduled (rate limit, back-off, suspension: the
    /// deferral names its own time) and no server was asked about it: such a round is not an attempt for the
    /// back-off schedule. The queue store still counts it; the sender remembers the difference (<see cref="DeliveryLedger"/>).</summary>
    public bool CountsAsAttempt => Retried.Any(d => d.NotBefore is null);
}

/// <summary>
/// Turns one attempt's outcomes into one queue transaction: events for delivered and bounced recipients, and either
/// completion or a retry with the recipients left. Deferred recipients whose queue lifetime would run out before the
/// next attempt bounce now, soft when a server answered and unroutable when none ever did. Every deferred recipient yields
/// one deferred event per settlement (stored always; posted only when backdata/event-types lists it).
/// A bounce whose class says the address or domain does not exist asks for a suppression entry.
/// </summary>
/// <param name="defaultTenant">sender/tenant: the tenant of a message that names none, as its queue names say.</param>
internal sealed class MessageSettlement(RetrySchedule retries, EventQueue events, string? defaultTenant = null)
{
    /// <param name="uncountedAttempts">Of the item's attempts, how many were only reschedules (see <see cref="Settlement.CountsAsAttempt"/>).</param>
    public Settlement Settle(LeasedItem item, IReadOnlyList<QueuedOutcome> outcomes, DateTimeOffset now, int uncountedAttempts = 0)
    {
        var attempts = Math.Max(0, item.Attempts - uncountedAttempts);
        var envelope = item.Envelope;
        var transaction = new QueueTransaction();
        var retried = new List<RecipientOutcome.Deferred>();
        var expired = new List<RecipientOutcome.Bounced>();
        var suppressions = new List<SuppressionEntry>();
        DateTimeOffset? retryAt = null;
        var tenancy = new Tenancy(envelope.Tenant ?? defaultTenant, envelope.Campaign);
        foreach (var (queue, outcome) in outcomes)
        {
            switch (outcome)
            {
                case RecipientOutcome.Delivered delivered:
                    events.AddTo(transaction, tenancy.Mark(MailEvent.Delivered(envelope.Uuid, now, delivered.Ip, delivered.Recipient)
                        with { Outbox = delivered.Outbox?.File, ReturnPath = delivered.Outbox?.ReturnPath }));
                    break;
                case RecipientOutcome.Bounced bounced:
                    events.AddTo(transaction, tenancy.Mark(MailEvent.Bounce(envelope.Uuid, now, bounced.Ip, bounced.Type, bounced.Reason, bounced.Recipient) with { Class = bounced.ReportClass }));
                    if (AutomaticEntries.ForBounce(bounced.Recipient, bounced.Type, bounced.ReportClass, now) is { } entry)
                    {
                        suppressions.Add(entry);
                    }
                    break;
                case RecipientOutcome.Deferred deferred:
                    var lifetime = retries.LifetimeOf(queue);
                    var next = deferred.NotBefore is { } at
                        ? RetrySchedule.Within(at, item.CreatedAt, lifetime)
                        : retries.Next(attempts, item.CreatedAt, now, lifetime);
                    if (next is null)
                    {
                        var type = deferred.SiteAnswered ? "soft" : "unroutable";
                        var reason = $"expired after {now - item.CreatedAt:d\\.hh\\:mm\\:ss} in queue {queue} (lifetime {lifetime:d\\.hh\\:mm\\:ss}); last error: {deferred.Reason}";
                        var bounce = new RecipientOutcome.Bounced(deferred.Recipient, type, reason, null, BounceClass.Expired, BounceReasons.Expired);
                        expired.Add(bounce);
                        events.AddTo(transaction, tenancy.Mark(MailEvent.Bounce(envelope.Uuid, now, null, type, reason, deferred.Recipient) with { Class = bounce.ReportClass }));
                        break;
                    }
                    retried.Add(deferred);
                    retryAt = retryAt is { } earliest && earliest < next.Value ? earliest : next.Value;
                    events.AddTo(transaction, tenancy.Mark(MailEvent.Deferred(envelope.Uuid, now, deferred.Reason, deferred.Recipient, deferred.Class)));
                    break;
            }
        }

        if (retryAt is { } when)
        {
            transaction.Retry(item, when, envelope with { Recipients = retried.Select(d => d.Recipient).ToArray() });
        }
        else
        {
            transaction.Complete(item);
        }
        return new Settlement(transaction, retryAt, retried, expired, suppressions);
    }
}

/// <summary>The tenant and campaign every event of one message carries.</summary>
internal readonly record struct Tenancy(string? Tenant, string? Campaign)
{
    public MailEvent Mark(MailEvent mailEvent) => mailEvent with { Tenant = Tenant, Campaign = Campaign };
}
