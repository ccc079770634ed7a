using ManycoreMail.Config;
using ManycoreMail.Events;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Suppression;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Transformer;

/// <summary>
/// How a transformed message is handed to the outbound queue, whether the transformer leased it from an ingress queue
/// or transformed it at the door (<see cref="IngressTransform"/>): the outbound items and a <c>suppressed</c> event per
/// stopped recipient, written into the caller's transaction, and the counts once that transaction is committed. Two
/// instances in one process count into the same series (the registry shares them by name).
/// </summary>
internal sealed class TransformerHandOffs
{
    private readonly QueueNames _queues;
    private readonly EventQueue _events;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Counter _pushed;
    private readonly Counter _warnings;
    private readonly Counter _suppressed;
    private readonly Histogram _process;

    public TransformerHandOffs(QueueNames queues, EventQueue events, MetricsRegistry metrics, TimeProvider time, ILogger logger)
    {
        _queues = queues;
        _events = events;
        _time = time;
        _logger = logger;
        _pushed = metrics.Counter("transformer_pushed_total", "Messages handed to the outbound queue.");
        _warnings = metrics.Counter("transformer_warnings_total", "Messages transformed with a warning.");
        _suppressed = metrics.Counter("transformer_suppressed_total", "Recipients not sent to because the suppression list stops them.");
        _process = metrics.Family(Histogram.OfMessageLatency("transformer_process_seconds",
            "Seconds from the transformer's lease (or the message's acceptance, when transformed at the door) to the hand-off to the outbound queue being committed, per message."));
    }

    /// <summary>Adds the hand-off of <paramref name="ready"/> to <paramref name="transaction"/>. <paramref name="leased"/> is
    /// the ingress item it was read from, settled in the same transaction (its unchanged body is then referenced, not
    /// written again, where the store can); null at the door, where <paramref name="submitted"/> was never queued.</summary>
    public void Add(QueueTransaction transaction, TransformOutcome.Ready ready, MessageEnvelope submittedEnvelope, ReadOnlyMemory<byte> submitted,
        DateTimeOffset acceptedAt, string? uuid, DateTimeOffset now, LeasedItem? leased)
    {
        if (leased is not null && ready.Messages is [{ SubmittedOffset: { } offset } only])
        {
            transaction.Forward(leased, _queues.Outbound, Outbound(only.Envelope, submittedEnvelope, acceptedAt), only.Prefix, offset);
        }
        else
        {
            if (leased is not null)
            {
                transaction.Complete(leased);
            }
            foreach (var message in ready.Messages)
            {
                transaction.Enqueue(_queues.Outbound, new QueueItem(Outbound(message.Envelope, submittedEnvelope, acceptedAt), message.Message(submitted.Span)));
            }
        }
        foreach (var (email, entry) in ready.Suppressed)
        {
            _events.AddTo(transaction, MailEvent.Suppressed(uuid, now, email,
                SuppressionNames.Name(entry.Reason), SuppressionNames.Format(entry.Scope, entry.Value)) with { Tenant = ready.Tenant, Campaign = ready.Campaign });
        }
        if (ready.Warnings.Count > 0)
        {
            _warnings.Increment();
            _logger.LogWarning("Message {Uuid}: {Warnings}", uuid, string.Join("; ", ready.Warnings));
        }
    }

    /// <summary>Counts a hand-off whose transaction was committed; its transformer stage began at <paramref name="startedAt"/>.</summary>
    public void Committed(TransformOutcome.Ready ready, DateTimeOffset startedAt)
    {
        _process.Observe((_time.GetUtcNow() - startedAt).TotalSeconds);
        _pushed.Increment(ready.Messages.Count);
        _suppressed.Increment(ready.Suppressed.Count);
    }

    /// <summary>An outbound envelope with what the submission carried: its acceptance time, and the client's DSN
    /// requests for this copy's recipients and SMTPUTF8.</summary>
    private static MessageEnvelope Outbound(MessageEnvelope outbound, MessageEnvelope submitted, DateTimeOffset acceptedAt) =>
        outbound with { AcceptedAt = acceptedAt, Dsn = submitted.Dsn?.For(outbound.Recipients), Smtputf8 = submitted.Smtputf8 };
}
