using ManycoreMail.Config;
using ManycoreMail.Events;
using ManycoreMail.Hosting;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Transformer;

/// <summary>
/// Takes submitted messages (primary queue first), transforms them and hands them to the outbound queue in
/// one atomic step. A message that cannot be transformed goes to dead-letter with an <c>error</c> event,
/// never back to the queue it would poison.
/// </summary>
internal sealed class TransformerRole
{
    private const int BatchSize = 64;
    // A batch is held in memory while it is signed: 64 messages, but no more than this many bytes of them.
    private const long BatchBytes = 64L * 1024 * 1024;
    private static readonly TimeSpan LeaseTime = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan IdleWait = TimeSpan.FromSeconds(1);

    private readonly IQueueStore _store;
    private readonly QueueNames _queues;
    private readonly MessageTransformer _transformer;
    private readonly EventQueue _events;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Counter _polledPrimary;
    private readonly Counter _polledDefault;
    private readonly Counter _pushed;
    private readonly Counter _warnings;

    public TransformerRole(IQueueStore store, QueueNames queues, MessageTransformer transformer, EventQueue events,
        MetricsRegistry metrics, TimeProvider time, ILogger<TransformerRole> logger)
    {
        _store = store;
        _queues = queues;
        _transformer = transformer;
        _events = events;
        _time = time;
        _logger = logger;
        _polledPrimary = metrics.Counter("transformer_polled_primary_total", "Messages taken from the primary queue.");
        _polledDefault = metrics.Counter("transformer_polled_default_total", "Messages taken from the default queue.");
        _pushed = metrics.Counter("transformer_pushed_total", "Messages handed to the outbound queue.");
        _warnings = metrics.Counter("transformer_warnings_total", "Messages transformed with a warning.");
    }

    /// <summary>The role as the host runs it.</summary>
    public IMailerRole AsRole() => new BackgroundLoop(RoleNames.Transformer, RunAsync, _logger, _time);

    private async Task RunAsync(CancellationToken stopping)
    {
        // Three batches overlap: the next one is leased and the previous one's hand-offs are written while this
        // one is signed, so the cores neither wait for a lease nor for the disk (or Redis) between batches.
        var writing = Task.CompletedTask;
        var leasing = LeaseBatchAsync(stopping);
        try
        {
            while (true)
            {
                var batch = await leasing.ConfigureAwait(false);
                if (batch.Count == 0)
                {
                    leasing = NoBatch;
                    await writing.ConfigureAwait(false);
                    if (stopping.IsCancellationRequested)
                    {
                        return;
                    }
                    await WaitForEitherQueueAsync(stopping).ConfigureAwait(false);
                    leasing = LeaseBatchAsync(stopping);
                    continue;
                }
                // Once stopping, nothing more is leased; what was leased is still finished below.
                leasing = stopping.IsCancellationRequested ? NoBatch : LeaseBatchAsync(stopping);
                // Signing is CPU-bound: spread a batch over the cores. Each message's hand-off is its own commit,
                // handed to the store as soon as the message is signed but not waited for before signing the next:
                // the whole batch then shares one or two syncs instead of waiting for the disk once per core-full
                // of messages. A batch is finished even when stopping: it takes well under a second, and every
                // message then leaves in a settled state.
                var handOffs = new Task[batch.Count];
                await Parallel.ForAsync(0, batch.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
                    (i, _) =>
                    {
                        handOffs[i] = ProcessAsync(batch[i]);
                        return ValueTask.CompletedTask;
                    }).ConfigureAwait(false);
                await writing.ConfigureAwait(false);
                writing = Task.WhenAll(handOffs);
            }
        }
        finally
        {
            await writing.ConfigureAwait(false);
        }
    }

    private static readonly Task<IReadOnlyList<LeasedItem>> NoBatch = Task.FromResult<IReadOnlyList<LeasedItem>>([]);

    /// <summary>The next batch, primary queue first, always: the default queue is served only when the primary
    /// one is empty. Empty when both are.</summary>
    private async Task<IReadOnlyList<LeasedItem>> LeaseBatchAsync(CancellationToken stopping)
    {
        var batch = await _store.LeaseAsync(_queues.Primary, BatchSize, BatchBytes, LeaseTime, stopping).ConfigureAwait(false);
        if (batch.Count > 0)
        {
            _polledPrimary.Increment(batch.Count);
            return batch;
        }
        batch = await _store.LeaseAsync(_queues.Default, BatchSize, BatchBytes, LeaseTime, stopping).ConfigureAwait(false);
        _polledDefault.Increment(batch.Count);
        return batch;
    }

    private async Task WaitForEitherQueueAsync(CancellationToken stopping)
    {
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var primary = _store.WaitForItemsAsync(_queues.Primary, IdleWait, waiting.Token).AsTask();
        var @default = _store.WaitForItemsAsync(_queues.Default, IdleWait, waiting.Token).AsTask();
        await Task.WhenAny(primary, @default).ConfigureAwait(false);
        await waiting.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(primary, @default).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // the other wait, cancelled above; or shutdown, which the loop notices
        }
    }

    private async Task ProcessAsync(LeasedItem item)
    {
        var now = _time.GetUtcNow();
        TransformOutcome outcome;
        try
        {
            outcome = _transformer.Transform(item.Body, now);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Transforming message {Id} ({Uuid}) failed", item.Id, item.Envelope.Uuid);
            outcome = new TransformOutcome.Failed($"{e.GetType().Name}: {e.Message}", item.Envelope.Uuid);
        }
        var transaction = new QueueTransaction();
        switch (outcome)
        {
            case TransformOutcome.Ready ready:
                // The ingress item was created when the message was accepted.
                var envelope = ready.Envelope with { AcceptedAt = item.Envelope.AcceptedAt ?? item.CreatedAt };
                if (ready.SubmittedOffset is { } offset)
                {
                    transaction.Forward(item, _queues.Outbound, envelope, ready.Prefix, offset);
                }
                else
                {
                    transaction.Complete(item).Enqueue(_queues.Outbound, new QueueItem(envelope, ready.Prefix));
                }
                if (ready.Warnings.Count > 0)
                {
                    _warnings.Increment();
                    _logger.LogWarning("Message {Uuid}: {Warnings}", ready.Envelope.Uuid, string.Join("; ", ready.Warnings));
                }
                break;
            case TransformOutcome.Failed failed:
                _logger.LogWarning("Message {Id} ({Uuid}) not sent: {Reason}", item.Id, failed.Uuid, failed.Reason);
                transaction.DeadLetter(item, failed.Reason);
                _events.AddTo(transaction, MailEvent.Error(ServiceNames.Transformer, failed.Uuid, now, failed.Reason));
                break;
        }
        try
        {
            await _store.CommitAsync(transaction, CancellationToken.None).ConfigureAwait(false);
            if (outcome is TransformOutcome.Ready)
            {
                _pushed.Increment();
            }
        }
        catch (LeaseLostException)
        {
            // Another transformer took it after our lease ran out; it will do the work, once.
            _logger.LogWarning("Lease on message {Id} was lost; leaving it to its new holder", item.Id);
        }
    }
}
