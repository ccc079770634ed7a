using ManycoreMail.Config;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Redis;
using ManycoreMail.Sending;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Ingress;

/// <summary>An accepted message and its bytes, to queue now.</summary>
internal sealed record IngressSubmission(IngressMessage Message, ReadOnlyMemory<byte> Body);

/// <summary>An accepted message to hold on the scheduled queue until <paramref name="SendAt"/>; <paramref name="BodyFormat"/>
/// is null for a raw message and <see cref="HeldSend.BodyFormat"/> for a JSON send composed at its time.
/// <paramref name="Tenant"/> is the tenant it was accepted for (null when none): only that tenant's logins (and logins
/// without a tenant) may cancel it.
/// <paramref name="Requests"/> is what an SMTP client asked of delivery (DSN, SMTPUTF8), kept beside the held message.</summary>
internal sealed record HeldSubmission(IngressMessage Message, ReadOnlyMemory<byte> Body, DateTimeOffset SendAt, string? Tenant, string? BodyFormat = null,
    SubmissionRequests? Requests = null);

/// <summary>Puts an accepted submission on the primary or default queue, durably, or holds it on the scheduled queue
/// until its send time, and counts it under the original receivers' metric names.</summary>
/// <param name="sizes">Learns the size of every message queued now, for flow control; null: nobody asks.</param>
/// <param name="door">Transforms a message queued now at once, when this process runs the transformer; null: it does not.
/// Messages held for later, and batches of the messages API, always take the queues.</param>
internal sealed class IngressQueue(IQueueStore store, QueueNames names, MetricsRegistry metrics, ILogger<IngressQueue> logger,
    IScheduleLedger? scheduleLedger = null, QueuedMessageSize? sizes = null, IIngressTransform? door = null)
{
    private readonly Counter _enqueued = metrics.Counter("nbr_emails_enqueued_total", "Messages accepted and queued.");
    private readonly Counter _recipients = metrics.Counter("nbr_recipients_total", "Recipients (To, Cc, Bcc) of queued messages.");
    private readonly Counter _dropped = metrics.Counter("nbr_dropped_emails_total", "Messages refused or not queued.");

    /// <summary>Queues the message durably; false (logged, counted as dropped) when the queue cannot take
    /// it now, which the receivers answer with a temporary refusal.</summary>
    public async ValueTask<bool> TryEnqueueAsync(IngressMessage message, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken,
        SubmissionRequests? requests = null)
    {
        var queue = message.IsPrimary ? names.Primary : names.Default;
        var envelope = (requests ?? SubmissionRequests.None).ApplyTo(new MessageEnvelope { Uuid = message.Uuid });
        try
        {
            var handOff = door is null ? null : await door.TryTransformAsync(envelope, bytes, cancellationToken).ConfigureAwait(false);
            if (handOff is null)
            {
                await store.EnqueueAsync(queue, new QueueItem(envelope, bytes), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await store.CommitAsync(handOff.Transaction, cancellationToken).ConfigureAwait(false);
                handOff.Committed();
            }
        }
        catch (QueueUnavailableException e)
        {
            // An outage refuses every submission: one line each, no stack trace.
            _dropped.Increment();
            logger.LogWarning("Refused message {Uuid}: the queue is unavailable ({Error})", message.Uuid, e.Message);
            return false;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _dropped.Increment();
            logger.LogError(e, "Could not queue message {Uuid}", message.Uuid);
            return false;
        }
        _enqueued.Increment();
        _recipients.Increment(message.RecipientCount);
        sizes?.Add(bytes.Length);
        return true;
    }

    /// <summary>Queues the message now, or holds it until <paramref name="holdUntil"/> (its <c>X-Send-At</c>) when that
    /// is set, for <paramref name="tenant"/>, with what the client asked of delivery; false as <see cref="TryEnqueueAsync"/>.</summary>
    public ValueTask<bool> TryEnqueueOrHoldAsync(IngressMessage message, ReadOnlyMemory<byte> bytes, DateTimeOffset? holdUntil, string? tenant,
        CancellationToken cancellationToken, SubmissionRequests? requests = null) =>
        holdUntil is { } sendAt
            ? TryHoldBatchAsync([new HeldSubmission(message, bytes, sendAt, tenant, Requests: requests)], cancellationToken)
            : TryEnqueueAsync(message, bytes, cancellationToken, requests);

    /// <summary>Queues every message in one transaction (all or none); false as <see cref="TryEnqueueAsync"/>.</summary>
    public ValueTask<bool> TryEnqueueBatchAsync(IReadOnlyList<IngressSubmission> submissions, CancellationToken cancellationToken)
    {
        var transaction = new QueueTransaction();
        foreach (var (message, body) in submissions)
        {
            transaction.Enqueue(message.IsPrimary ? names.Primary : names.Default, new QueueItem(new MessageEnvelope { Uuid = message.Uuid }, body));
        }
        return TryCommitAsync(transaction, submissions.Select(s => s.Message).ToArray(), countAsEnqueued: true, cancellationToken, submissions);
    }

    /// <summary>Holds every message on the scheduled queue until its time, recorded in the schedule ledger first so
    /// that it can be cancelled; all or none. Held messages are counted as enqueued when the scheduler hands them on.</summary>
    public async ValueTask<bool> TryHoldBatchAsync(IReadOnlyList<HeldSubmission> submissions, CancellationToken cancellationToken)
    {
        var messages = submissions.Select(s => s.Message).ToArray();
        if (scheduleLedger is not null)
        {
            try
            {
                await scheduleLedger.RecordAsync(submissions.Select(s => new ScheduledEntry(s.Message.Uuid, s.SendAt, s.Tenant)).ToArray(), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _dropped.Increment(messages.Length);
                logger.LogError(e, "Could not record {Count} scheduled messages, first {Uuid}", messages.Length, messages[0].Uuid);
                return false;
            }
        }
        var transaction = new QueueTransaction();
        foreach (var held in submissions)
        {
            var envelope = (held.Requests ?? SubmissionRequests.None).ApplyTo(new MessageEnvelope { Uuid = held.Message.Uuid, BodyFormat = held.BodyFormat });
            transaction.Enqueue(names.Scheduled, new QueueItem(envelope, held.Body), held.SendAt);
        }
        return await TryCommitAsync(transaction, messages, countAsEnqueued: false, cancellationToken).ConfigureAwait(false);
    }

    /// <param name="queuedNow">What goes on the ingress queues now (not held), whose sizes flow control learns.</param>
    private async ValueTask<bool> TryCommitAsync(QueueTransaction transaction, IReadOnlyList<IngressMessage> messages, bool countAsEnqueued,
        CancellationToken cancellationToken, IReadOnlyList<IngressSubmission>? queuedNow = null)
    {
        if (messages.Count == 0)
        {
            return true;
        }
        try
        {
            await store.CommitAsync(transaction, cancellationToken).ConfigureAwait(false);
        }
        catch (QueueUnavailableException e)
        {
            _dropped.Increment(messages.Count);
            logger.LogWarning("Refused {Count} messages, first {Uuid}: the queue is unavailable ({Error})", messages.Count, messages[0].Uuid, e.Message);
            return false;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _dropped.Increment(messages.Count);
            logger.LogError(e, "Could not queue {Count} messages, first {Uuid}", messages.Count, messages[0].Uuid);
            return false;
        }
        if (countAsEnqueued)
        {
            CountEnqueued(messages);
        }
        if (sizes is not null && queuedNow is not null)
        {
            foreach (var submission in queuedNow)
            {
                sizes.Add(submission.Body.Length);
            }
        }
        return true;
    }

    /// <summary>Counts messages as enqueued: at the door, or (held ones) when the scheduler hands them on.</summary>
    public void CountEnqueued(IReadOnlyList<IngressMessage> messages)
    {
        _enqueued.Increment(messages.Count);
        _recipients.Increment(messages.Sum(m => m.RecipientCount));
    }

    public void CountDropped() => _dropped.Increment();
}
