using ManycoreMail.Config;
using ManycoreMail.Events;
using ManycoreMail.Hosting;
using ManycoreMail.Ingress;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Sending;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Scheduler;

/// <summary>
/// Hands held messages on when their time comes: leases due items of the scheduled queue and puts each on the
/// primary or default ingress queue (by its X-Priority), so that templates, suppression and tracking apply then,
/// not when the message was accepted. A held JSON send is composed first. The ledger decides whether a due
/// message still goes: one cancelled meanwhile is dropped silently (its <c>cancelled</c> event was emitted when the
/// cancel happened). Each item is settled in one queue transaction with what it produces.
/// </summary>
internal sealed class SchedulerRole(
    IQueueStore store,
    QueueNames queues,
    IScheduleLedger ledger,
    IHeldSendComposer? composer,
    IngressQueue ingress,
    EventQueue events,
    MetricsRegistry metrics,
    TimeProvider time,
    ILogger<SchedulerRole> logger)
{
    public const string RoleName = "scheduler";

    // Small batches and short leases: each item costs a ledger write, and what is leased is renewed meanwhile.
    private const int BatchSize = 32;
    private static readonly TimeSpan LeaseTime = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan IdleWait = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan LongestRetryDelay = TimeSpan.FromMinutes(10);

    private readonly Counter _handedOn = metrics.Counter("scheduler_handed_on_total", "Scheduled messages handed on to the ingress queues at their time.");
    private readonly Counter _dropped = metrics.Counter("scheduler_cancelled_total", "Scheduled messages not sent because they were cancelled.");
    private readonly Counter _failed = metrics.Counter("scheduler_failed_total", "Held sends that could no longer be composed (an error event each).");
    private readonly Counter _retried = metrics.Counter("scheduler_retries_total", "Due messages put back for a later try (ledger or composer unavailable).");

    /// <summary>The role as the host runs it.</summary>
    public IMailerRole AsRole() => new BackgroundLoop(RoleName, RunAsync, logger, time);

    private async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            var batch = await store.LeaseAsync(queues.Scheduled, BatchSize, LeaseTime, stopping).ConfigureAwait(false);
            if (batch.Count == 0)
            {
                await store.WaitForItemsAsync(queues.Scheduled, IdleWait, stopping).ConfigureAwait(false);
                continue;
            }
            await HandOnBatchAsync(batch, stopping).ConfigureAwait(false);
        }
    }

    /// <summary>Settles every item of <paramref name="batch"/>; once stopping, what is left is given back untouched.</summary>
    internal async Task HandOnBatchAsync(IReadOnlyList<LeasedItem> batch, CancellationToken stopping)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            if (stopping.IsCancellationRequested)
            {
                var release = new QueueTransaction();
                foreach (var rest in batch.Skip(i))
                {
                    release.Release(rest);
                }
                await CommitAsync(release, batch[i]).ConfigureAwait(false);
                return;
            }
            // An item once begun is finished: its ledger write and hand-off take milliseconds.
            await HandOnAsync(batch[i]).ConfigureAwait(false);
        }
    }

    private async Task HandOnAsync(LeasedItem item)
    {
        var uuid = item.Envelope.Uuid ?? "";
        var now = time.GetUtcNow();
        ScheduledDecision decision;
        try
        {
            decision = await DecideAsync(item, uuid).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The ledger or the composer cannot tell now (a database outage): try again later, never drop.
            var retryAt = now + RetryDelay(item.Attempts);
            logger.LogWarning("Scheduled message {Uuid} could not be handed on ({Error}); trying again at {RetryAt:O}", uuid, e.Message, retryAt);
            _retried.Increment();
            await CommitAsync(new QueueTransaction().Retry(item, retryAt), item).ConfigureAwait(false);
            return;
        }

        var transaction = new QueueTransaction();
        switch (decision)
        {
            case ScheduledDecision.Drop:
                transaction.Complete(item);
                break;
            case ScheduledDecision.HandOn handOn:
                var queue = handOn.Message.IsPrimary ? queues.Primary : queues.Default;
                // What an SMTP client asked of delivery was held with the message and goes on with it.
                var envelope = new MessageEnvelope { Uuid = handOn.Message.Uuid, Dsn = item.Envelope.Dsn, Smtputf8 = item.Envelope.Smtputf8 };
                if (handOn.Body is { } composed)
                {
                    transaction.Complete(item).Enqueue(queue, new QueueItem(envelope, composed));
                }
                else
                {
                    // The held bytes are the raw message as accepted: a store may keep them rather than copy them.
                    transaction.Forward(item, queue, envelope, ReadOnlyMemory<byte>.Empty, 0);
                }
                break;
            case ScheduledDecision.Fail fail:
                logger.LogWarning("Scheduled message {Uuid} not sent: {Reason}", uuid, fail.Reason);
                transaction.Complete(item);
                events.AddTo(transaction, MailEvent.Error(RoleName, uuid, now, fail.Reason));
                break;
        }
        if (!await CommitAsync(transaction, item).ConfigureAwait(false))
        {
            return;
        }
        switch (decision)
        {
            case ScheduledDecision.Drop:
                _dropped.Increment();
                logger.LogInformation("Scheduled message {Uuid} was cancelled; dropped at its time", uuid);
                break;
            case ScheduledDecision.HandOn handOn:
                _handedOn.Increment();
                ingress.CountEnqueued([handOn.Message]);
                break;
            case ScheduledDecision.Fail:
                _failed.Increment();
                break;
        }
    }

    /// <summary>What becomes of a due item. A held send is composed before the ledger is asked, so that a send that
    /// cannot be composed now (retried) is not yet marked sent: a cancel meanwhile still stops it.</summary>
    private async Task<ScheduledDecision> DecideAsync(LeasedItem item, string uuid)
    {
        HeldSendOutcome? composed = null;
        if (item.Envelope.BodyFormat == HeldSend.BodyFormat)
        {
            if (composer is null)
            {
                throw new InvalidOperationException("no composer for held JSON sends in this process");
            }
            composed = await composer.ComposeAsync(item.Body, CancellationToken.None).ConfigureAwait(false);
        }
        else if (item.Envelope.BodyFormat is { } unknown)
        {
            return new ScheduledDecision.Fail($"unknown held body format '{unknown}'");
        }
        if (!await ledger.TryMarkSentAsync(uuid, CancellationToken.None).ConfigureAwait(false))
        {
            return new ScheduledDecision.Drop();
        }
        return composed switch
        {
            null => new ScheduledDecision.HandOn(Accepted(uuid, item.Body, isPrimary: null), null),
            HeldSendOutcome.Composed c => new ScheduledDecision.HandOn(Accepted(uuid, c.Message, c.IsPrimary), c.Message),
            HeldSendOutcome.Failed f => new ScheduledDecision.Fail(f.Reason),
            _ => throw new InvalidOperationException("unexpected composer outcome"),
        };
    }

    /// <summary>The message as the receivers saw it, for its queue (X-Priority) and the enqueued counters. It was
    /// checked at the door; one that no longer passes goes to the default queue, where the transformer reports it.</summary>
    private static IngressMessage Accepted(string uuid, ReadOnlyMemory<byte> body, bool? isPrimary)
    {
        var read = IngressRules.TryAccept(body, PriorityRule.Lenient, out var accepted, out _);
        return new IngressMessage(uuid, isPrimary ?? (read && accepted.IsPrimary), read ? accepted.RecipientCount : 0);
    }

    private static TimeSpan RetryDelay(int attempts) =>
        TimeSpan.FromTicks(Math.Min(FirstRetryDelay.Ticks << Math.Min(attempts, 10), LongestRetryDelay.Ticks));

    private async Task<bool> CommitAsync(QueueTransaction transaction, LeasedItem item)
    {
        try
        {
            await store.CommitAsync(transaction, CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        catch (LeaseLostException)
        {
            // Another scheduler took it after our lease ran out; it hands it on, once (the ledger lets both through).
            logger.LogWarning("Lease on scheduled item {Id} was lost; leaving it to its new holder", item.Id);
            return false;
        }
    }
}

/// <summary>What the scheduler does with a due item.</summary>
internal abstract record ScheduledDecision
{
    private ScheduledDecision() { }

    /// <summary>Cancelled: complete it, nothing more.</summary>
    public sealed record Drop : ScheduledDecision;

    /// <summary>Put <paramref name="Message"/> on its ingress queue: the held bytes when <paramref name="Body"/> is null,
    /// else the composed ones.</summary>
    public sealed record HandOn(IngressMessage Message, ReadOnlyMemory<byte>? Body) : ScheduledDecision;

    /// <summary>Not sent: complete it with an <c>error</c> event.</summary>
    public sealed record Fail(string Reason) : ScheduledDecision;
}
