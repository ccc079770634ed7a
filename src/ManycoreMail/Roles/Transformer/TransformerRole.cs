using ManycoreMail.Config;
using ManycoreMail.Events;
using ManycoreMail.Hosting;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Suppression;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Transformer;

/// <summary>
/// Takes submitted messages (primary queue first), checks their recipients against the suppression list,
/// transforms them and hands them to the outbound queue in one atomic step, with a <c>suppressed</c> event for
/// each recipient the list stopped. A message that cannot be transformed goes to dead-letter with an
/// <c>error</c> event, never back to the queue it would poison.
/// </summary>
internal sealed class TransformerRole
{
    private const int BatchSize = 64;
    // A batch is held in memory while it is signed: 64 messages, but no more than this many bytes of them.
    private const long BatchBytes = 64L * 1024 * 1024;
    private static readonly TimeSpan LeaseTime = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan IdleWait = TimeSpan.FromSeconds(1);
    // A batch whose recipients could not be checked waits this long before it is tried again.
    private static readonly TimeSpan SuppressionRetryDelay = TimeSpan.FromSeconds(30);

    private readonly IQueueStore _store;
    private readonly QueueNames _queues;
    private readonly MessageTransformer _transformer;
    private readonly ISuppressionStore _suppressions;
    private readonly EventQueue _events;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Counter _polledPrimary;
    private readonly Counter _polledDefault;
    private readonly Counter _suppressionFailures;
    private readonly Histogram _queueWait;
    private readonly TransformerHandOffs _handOffs;

    public TransformerRole(IQueueStore store, QueueNames queues, MessageTransformer transformer, ISuppressionStore suppressions,
        EventQueue events, MetricsRegistry metrics, TimeProvider time, ILogger<TransformerRole> logger)
    {
        _store = store;
        _queues = queues;
        _transformer = transformer;
        _suppressions = suppressions;
        _events = events;
        _time = time;
        _logger = logger;
        _polledPrimary = metrics.Counter("transformer_polled_primary_total", "Messages taken from the primary queue.");
        _polledDefault = metrics.Counter("transformer_polled_default_total", "Messages taken from the default queue.");
        _suppressionFailures = metrics.Counter("transformer_suppression_failures_total",
            "Batches put back because the suppression list could not be read.");
        _queueWait = metrics.Family(Histogram.OfMessageLatency("transformer_queue_wait_seconds",
            "Seconds from the customer's message being accepted to the transformer's lease, per message."));
        _handOffs = new TransformerHandOffs(queues, events, metrics, time, logger);
    }

    /// <summary>The role as the host runs it.</summary>
    public IMailerRole AsRole() => new BackgroundLoop(RoleNames.Transformer, RunAsync, _logger, _time);

    private async Task RunAsync(CancellationToken stopping)
    {
        foreach (var warning in _transformer.ConfigurationWarnings)
        {
            _logger.LogWarning("Configuration: {Warning}", warning);
        }
        // Three batches overlap: the next one is leased and the previous one's hand-offs are written while this
        // one is signed, so the cores neither wait for a lease nor for the disk (or Redis) between batches.
        var writing = Task.CompletedTask;
        var leasing = LeaseBatchAsync(stopping);
        try
        {
            while (true)
            {
                var batch = await leasing.ConfigureAwait(false);
                if (batch.Items.Count == 0)
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
                var handOffs = await ProcessBatchAsync(batch, stopping).ConfigureAwait(false);
                await writing.ConfigureAwait(false);
                writing = Task.WhenAll(handOffs);
            }
        }
        finally
        {
            await writing.ConfigureAwait(false);
        }
    }

    private static readonly Task<LeasedBatch> NoBatch = Task.FromResult(new LeasedBatch([], DateTimeOffset.MinValue));

    /// <summary>The next batch, primary queue first, always: the default queue is served only when the primary
    /// one is empty. Empty when both are.</summary>
    private async Task<LeasedBatch> LeaseBatchAsync(CancellationToken stopping)
    {
        var batch = await _store.LeaseAsync(_queues.Primary, BatchSize, BatchBytes, LeaseTime, stopping).ConfigureAwait(false);
        if (batch.Count > 0)
        {
            _polledPrimary.Increment(batch.Count);
            return Leased(batch);
        }
        batch = await _store.LeaseAsync(_queues.Default, BatchSize, BatchBytes, LeaseTime, stopping).ConfigureAwait(false);
        _polledDefault.Increment(batch.Count);
        return Leased(batch);
    }

    private LeasedBatch Leased(IReadOnlyList<LeasedItem> items)
    {
        var leasedAt = _time.GetUtcNow();
        foreach (var item in items)
        {
            _queueWait.Observe((leasedAt - AcceptedAt(item)).TotalSeconds);
        }
        return new LeasedBatch(items, leasedAt);
    }

    // The ingress item was created when the message was accepted.
    private static DateTimeOffset AcceptedAt(LeasedItem item) => item.Envelope.AcceptedAt ?? item.CreatedAt;

    private async Task WaitForEitherQueueAsync(CancellationToken stopping)
    {
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var primary = _store.WaitForItemsAsync(_queues.Primary, IdleWait, waiting.Token).AsTask();
        var @default = _store.WaitForItemsAsync(_queues.Default, IdleWait, waiting.Token).AsTask();
        await Task.WhenAny(primary, @default).ConfigureAwait(false);
        await waiting.CancelAsync().ConfigureAwait(false);
        // The other wait ends cancelled (above, or by shutdown, which the loop notices): not rethrown, since this
        // runs every time both queues run dry. A failure of the store is.
        await Task.WhenAll(primary, @default).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (primary.IsFaulted || @default.IsFaulted)
        {
            await Task.WhenAll(primary, @default).ConfigureAwait(false);
        }
    }

    /// <summary>Reads the batch, looks up all its recipients in the suppression list in one query, then transforms
    /// and hands off every message; returns the hand-offs, which are still being written.</summary>
    private async Task<Task[]> ProcessBatchAsync(LeasedBatch leased, CancellationToken stopping)
    {
        var batch = leased.Items;
        var now = _time.GetUtcNow();
        var submitted = new SubmittedMessage?[batch.Count];
        var failed = new TransformOutcome.Failed?[batch.Count];
        var addresses = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < batch.Count; i++)
        {
            try
            {
                if (_transformer.TryRead(batch[i].Body, out var read, out failed[i]))
                {
                    submitted[i] = read;
                    addresses.UnionWith(read.LookupAddresses());
                }
            }
            catch (Exception e)
            {
                _logger.LogError(e, "Reading message {Id} ({Uuid}) failed", batch[i].Id, batch[i].Envelope.Uuid);
                failed[i] = new TransformOutcome.Failed($"{e.GetType().Name}: {e.Message}", batch[i].Envelope.Uuid);
            }
        }
        var (suppressions, retryAfter) = await FindSuppressionsAsync(addresses, now, stopping).ConfigureAwait(false);

        // Signing is CPU-bound: spread a batch over the cores. Each message's hand-off is its own commit,
        // handed to the store as soon as the message is signed but not waited for before signing the next:
        // the whole batch then shares one or two syncs instead of waiting for the disk once per core-full
        // of messages. A batch is finished even when stopping: it takes well under a second, and every
        // message then leaves in a settled state.
        var handOffs = new Task[batch.Count];
        await Parallel.ForAsync(0, batch.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            (i, _) =>
            {
                handOffs[i] = failed[i] is { } failure ? HandOffAsync(batch[i], failure, failure.Uuid, now, leased.LeasedAt)
                    : suppressions is null ? PutBackAsync(batch[i], now + retryAfter)
                    : ProcessAsync(batch[i], submitted[i]!, suppressions, now, leased.LeasedAt);
                return ValueTask.CompletedTask;
            }).ConfigureAwait(false);
        return handOffs;
    }

    /// <summary>The active entries of the batch's recipients; or null, and when to try again, when the store cannot
    /// say: then nothing of the batch is sent, since a recipient must never get mail unchecked.</summary>
    private async Task<(IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>>? Found, TimeSpan RetryAfter)> FindSuppressionsAsync(
        HashSet<string> addresses, DateTimeOffset now, CancellationToken stopping)
    {
        if (addresses.Count == 0)
        {
            return (MessageTransformer.NoSuppressions, TimeSpan.Zero);
        }
        try
        {
            return (await _suppressions.FindAsync(addresses, now, stopping).ConfigureAwait(false), TimeSpan.Zero);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return (null, TimeSpan.Zero); // shutting down: the batch is due again at once, for whoever runs next
        }
        catch (Exception e)
        {
            _suppressionFailures.Increment();
            _logger.LogError(e, "The suppression list could not be read; the batch's messages wait {Delay} s for another try",
                SuppressionRetryDelay.TotalSeconds);
            return (null, SuppressionRetryDelay);
        }
    }

    /// <summary>Gives a message back unsent, due at <paramref name="due"/>.</summary>
    private async Task PutBackAsync(LeasedItem item, DateTimeOffset due)
    {
        var transaction = due <= _time.GetUtcNow() ? new QueueTransaction().Release(item) : new QueueTransaction().Retry(item, due);
        await CommitAsync(item, transaction).ConfigureAwait(false);
    }

    private Task ProcessAsync(LeasedItem item, SubmittedMessage submitted,
        IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>> suppressions, DateTimeOffset now, DateTimeOffset leasedAt)
    {
        TransformOutcome outcome;
        try
        {
            outcome = _transformer.Transform(submitted, suppressions, now);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Transforming message {Id} ({Uuid}) failed", item.Id, item.Envelope.Uuid);
            outcome = new TransformOutcome.Failed($"{e.GetType().Name}: {e.Message}", item.Envelope.Uuid);
        }
        return HandOffAsync(item, outcome, submitted.Uuid, now, leasedAt);
    }

    private async Task HandOffAsync(LeasedItem item, TransformOutcome outcome, string? uuid, DateTimeOffset now, DateTimeOffset leasedAt)
    {
        var transaction = new QueueTransaction();
        switch (outcome)
        {
            case TransformOutcome.Ready ready:
                _handOffs.Add(transaction, ready, item.Envelope, item.Body, AcceptedAt(item), uuid, now, item);
                break;
            case TransformOutcome.Failed failed:
                _logger.LogWarning("Message {Id} ({Uuid}) not sent: {Reason}", item.Id, failed.Uuid, failed.Reason);
                transaction.DeadLetter(item, failed.Reason);
                _events.AddTo(transaction, MailEvent.Error(ServiceNames.Transformer, failed.Uuid, now, failed.Reason));
                break;
        }
        if (await CommitAsync(item, transaction).ConfigureAwait(false) && outcome is TransformOutcome.Ready done)
        {
            _handOffs.Committed(done, leasedAt);
        }
    }

    private async Task<bool> CommitAsync(LeasedItem item, QueueTransaction transaction)
    {
        try
        {
            await _store.CommitAsync(transaction, CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        catch (LeaseLostException)
        {
            // Another transformer took it after our lease ran out; it will do the work, once.
            _logger.LogWarning("Lease on message {Id} was lost; leaving it to its new holder", item.Id);
            return false;
        }
    }

    /// <summary>A batch and when its lease returned, the moment its messages' transformer stage starts.</summary>
    private sealed record LeasedBatch(IReadOnlyList<LeasedItem> Items, DateTimeOffset LeasedAt);
}
