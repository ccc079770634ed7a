using ManycoreMail.AutoSuppression;
using ManycoreMail.Config;
using ManycoreMail.Delivery;
using ManycoreMail.Events;
using ManycoreMail.Hosting;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Sending;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Sender;

/// <summary>
/// Delivers queued messages to their recipients' MX hosts or smarthost (the original's Postfix module). Messages
/// are leased from the durable outbound queue; each (message, domain) becomes a job in its scheduled queue
/// (campaign:tenant@domain) and waits in its site's ready queue for a pooled connection. Each recipient ends in
/// exactly one terminal event: delivered, or bounce (at once for 5xx and unroutable domains, or when the queue
/// lifetime runs out); 4xx and connection trouble are retried with back-off through the durable queue.
/// </summary>
internal sealed class SenderRole
{
    private readonly IQueueStore _store;
    private readonly QueueNames _queues;
    private readonly SenderOptions _options;
    private readonly DeliveryEngine _engine;
    private readonly SenderMetrics _metrics;
    private readonly MessageSettlement _settlement;
    private readonly EventQueue _events;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SuppressionWriter? _suppressions;
    private readonly OutboxSink? _outbox;
    private readonly SemaphoreSlim _slots;
    private int _active;
    private long _bytesHeld;
    private TaskCompletionSource _bytesFreed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Messages this process holds or deferred: for operators, and to tell reschedules from attempts.</summary>
    public DeliveryLedger Ledger { get; } = new();

    /// <param name="suppressions">Where the entries of hard bounces to addresses or domains that do not exist go; null: none
    /// are added (no suppression store in this process).</param>
    /// <param name="outbox">sender/sink: every message goes there instead of to a site; null: delivered for real.</param>
    public SenderRole(IQueueStore store, QueueNames queues, SenderOptions options, DeliveryEngine engine, SenderMetrics senderMetrics, EventQueue events,
        MetricsRegistry metrics, TimeProvider time, ILogger<SenderRole> logger, SuppressionWriter? suppressions = null, OutboxSink? outbox = null)
    {
        _suppressions = suppressions;
        _outbox = outbox;
        _store = store;
        _queues = queues;
        _options = options;
        _engine = engine;
        _metrics = senderMetrics;
        _settlement = new MessageSettlement(new RetrySchedule(options.Retries), events, options.Delivery.Tenant);
        _events = events;
        _time = time;
        _logger = logger;
        _slots = new SemaphoreSlim(options.MaxConcurrentDeliveries, options.MaxConcurrentDeliveries);
        RegisterGauges(metrics);
    }

    /// <summary>Messages leased and in delivery (in a ready queue or on the wire).</summary>
    public int ActiveCount => Volatile.Read(ref _active);

    public DeliveryEngine Engine => _engine;

    public SenderMetrics Metrics => _metrics;

    /// <summary>The role as the host runs it.</summary>
    public IMailerRole AsRole() => new BackgroundLoop(RoleNames.Sender, RunAsync, _logger, _time);

    private void RegisterGauges(MetricsRegistry metrics)
    {
        metrics.Gauge("postfix_active_queue_messages", "Messages in delivery now (leased from the outbound queue).", () => ActiveCount);
        metrics.Gauge("postfix_deferred_queue_messages", "Messages on the outbound queue not in delivery (waiting for a retry or their turn).",
            async cancellationToken => Math.Max(0, await _store.CountAsync(_queues.Outbound, cancellationToken).ConfigureAwait(false) - ActiveCount));
        metrics.Family(new LabelledGauge("connection_count", "Open SMTP connections per site.", ["site"],
            () => _engine.Sites.Select(s => (new[] { s.Name }, (double)s.ConnectionCount))));
        metrics.Family(new LabelledGauge("ready_count", "Deliveries waiting for a connection per site.", ["site"],
            () => _engine.Sites.Select(s => (new[] { s.Name }, (double)s.ReadyCount))));
        metrics.Family(new LabelledGauge("scheduled_count", "Deliveries in memory per scheduled queue (campaign:tenant@domain).", ["queue"],
            () => _engine.ScheduledCounts.Select(q => (new[] { q.Key }, (double)q.Value))));
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                // A slot per message held: lease only as many messages as there are free slots.
                await _slots.WaitAsync(stopping).ConfigureAwait(false);
                var free = 1;
                while (free < _options.MaxConcurrentDeliveries && _slots.Wait(0))
                {
                    free++;
                }
                // Bodies stay in memory while they are delivered: lease no more than the memory left (the lease takes at
                // least one message, so the budget is exceeded by less than one message at most).
                var freed = Volatile.Read(ref _bytesFreed).Task;
                var room = _options.MaxDeliveryMemoryBytes - Interlocked.Read(ref _bytesHeld);
                if (room <= 0)
                {
                    _slots.Release(free);
                    await freed.WaitAsync(stopping).ConfigureAwait(false);
                    continue;
                }
                IReadOnlyList<LeasedItem> batch;
                try
                {
                    batch = await _store.LeaseAsync(_queues.Outbound, free, room, _options.Lease, stopping).ConfigureAwait(false);
                }
                finally
                {
                    _slots.Release(free);
                }
                if (batch.Count == 0)
                {
                    await _store.WaitForItemsAsync(_queues.Outbound, TimeSpan.FromSeconds(1), stopping).ConfigureAwait(false);
                    continue;
                }
                _metrics.Polled.Increment(batch.Count);
                var leasedAt = _time.GetUtcNow();
                foreach (var item in batch)
                {
                    if (item.Attempts == 0)
                    {
                        // A retry's wait is its back-off, not the queue's: only first attempts say how long the queue holds mail.
                        _metrics.QueueWait.Observe((leasedAt - item.CreatedAt).TotalSeconds);
                    }
                }
                foreach (var item in batch)
                {
                    await _slots.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                    Interlocked.Increment(ref _active);
                    Interlocked.Add(ref _bytesHeld, item.Body.Length);
                    _ = DeliverAndReleaseAsync(item, leasedAt, stopping);
                }
            }
        }
        finally
        {
            if (stopping.IsCancellationRequested)
            {
                // Connections close and waiting jobs are cancelled; their messages are handed back below.
                _engine.Stop();
            }
            for (var i = 0; i < _options.MaxConcurrentDeliveries; i++)
            {
                await _slots.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            }
            _slots.Release(_options.MaxConcurrentDeliveries);
        }
    }

    private async Task DeliverAndReleaseAsync(LeasedItem item, DateTimeOffset leasedAt, CancellationToken stopping)
    {
        try
        {
            await DeliverAsync(item, leasedAt, stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Shutting down: hand the message back untouched so the next start delivers it.
            Ledger.Forget(item.Id);
            await TryReleaseAsync(item).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Delivering message {Id} ({Uuid}) failed unexpectedly; it will be retried", item.Id, item.Envelope.Uuid);
            Ledger.Forget(item.Id);
            await TrySettleFailureAsync(item, e.Message).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _active);
            Interlocked.Add(ref _bytesHeld, -item.Body.Length);
            Interlocked.Exchange(ref _bytesFreed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            _slots.Release();
        }
    }

    private async Task DeliverAsync(LeasedItem item, DateTimeOffset leasedAt, CancellationToken cancellationToken)
    {
        if (LegacyEnvelope.NeedsReading(item.Envelope))
        {
            await AdoptLegacyAsync(item).ConfigureAwait(false);
            return;
        }
        _metrics.Attempted.Increment();
        var envelope = item.Envelope;
        var tenant = envelope.Tenant ?? _options.Delivery.Tenant;
        var groups = envelope.Recipients.GroupBy(DomainOf, StringComparer.OrdinalIgnoreCase).ToArray();
        var request = DsnCarry.ForDelivery(envelope);
        // Every domain of the message goes to its own site at once; the message settles when all have answered.
        var deliveries = new Task<IReadOnlyList<RecipientOutcome>>[groups.Length];
        var queues = new string[groups.Length];
        for (var i = 0; i < groups.Length; i++)
        {
            queues[i] = ScheduledQueueName.Of(envelope.Campaign, tenant, groups[i].Key);
        }
        Ledger.Delivering(item.Id, envelope.Uuid, groups.SelectMany((g, i) => g.Select(r => new LedgerRecipient(r, queues[i]))).ToArray(),
            item.Attempts, item.CreatedAt);
        for (var i = 0; i < groups.Length; i++)
        {
            deliveries[i] = _outbox is { } outbox
                ? outbox.StoreAsync(envelope.Uuid, [.. groups[i]], envelope.ReturnPath ?? "", item.Body, cancellationToken)
                : _engine.DeliverAsync(queues[i], groups[i].Key, [.. groups[i]], envelope.ReturnPath ?? "", item.Body, cancellationToken, request);
        }
        await Task.WhenAll(deliveries).ConfigureAwait(false);

        var outcomes = new List<QueuedOutcome>(envelope.Recipients.Count);
        for (var i = 0; i < groups.Length; i++)
        {
            outcomes.AddRange(deliveries[i].Result.Select(o => new QueuedOutcome(queues[i], o)));
        }
        var settlement = _settlement.Settle(item, outcomes, _time.GetUtcNow(), Ledger.UncountedAttempts(item.Id));
        foreach (var expired in settlement.Expired)
        {
            _metrics.Bounced(DomainOf(expired.Recipient), expired.Type, expired.Class);
        }
        var delay = _time.GetUtcNow() - item.CreatedAt;
        for (var i = 0; i < groups.Length; i++)
        {
            foreach (var outcome in deliveries[i].Result)
            {
                RecipientOutcomeLog.Write(_logger, envelope.Uuid, groups[i].Key, outcome, settlement.Expired, delay);
            }
        }
        if (settlement.RetryAt is { } retryAt)
        {
            _logger.LogInformation("Message {Uuid}: {Count} recipient(s) deferred until {RetryAt:u}: {Reason}",
                envelope.Uuid, settlement.Retried.Count, retryAt, settlement.Retried[0].Reason);
        }

        try
        {
            await _store.CommitAsync(settlement.Transaction, CancellationToken.None).ConfigureAwait(false);
        }
        catch (LeaseLostException)
        {
            Ledger.Forget(item.Id);
            _logger.LogWarning("Lease on message {Id} was lost while delivering; its new holder may deliver it again", item.Id);
            return;
        }
        // Only once the bounces are committed: a lost lease means the new holder bounces (and suppresses) them.
        _suppressions?.Add(settlement.Suppressions);
        _metrics.RecordTenant(tenant, outcomes.Count(o => o.Outcome is RecipientOutcome.Delivered),
            outcomes.Count(o => o.Outcome is RecipientOutcome.Bounced) + settlement.Expired.Count, settlement.Retried.Count);
        var settledAt = _time.GetUtcNow();
        var sinceAccepted = (settledAt - (envelope.AcceptedAt ?? item.CreatedAt)).TotalSeconds;
        var sinceLeased = (settledAt - leasedAt).TotalSeconds;
        foreach (var (_, outcome) in outcomes)
        {
            if (outcome is RecipientOutcome.Delivered)
            {
                _metrics.AcceptToDelivery.Observe(sinceAccepted);
                _metrics.Delivery.Observe(sinceLeased);
            }
        }
        if (settlement.RetryAt is { } at)
        {
            var queueOf = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var (queue, outcome) in outcomes)
            {
                queueOf.TryAdd(outcome.Recipient, queue);
            }
            Ledger.Deferred(item.Id, settlement.Retried.Select(d => new LedgerRecipient(d.Recipient, queueOf.GetValueOrDefault(d.Recipient, ""))).ToArray(),
                at, settlement.Retried[0].Reason, settlement.CountsAsAttempt);
        }
        else
        {
            Ledger.Forget(item.Id);
        }
    }

    /// <summary>A message without our envelope (pushed by the original's Transformer on a shared Redis) is put
    /// back on the queue once, atomically, with the envelope read from its headers; one that names no return
    /// path or recipient goes to dead-letter with an error event instead of vanishing.</summary>
    private async Task AdoptLegacyAsync(LeasedItem item)
    {
        var transaction = new QueueTransaction();
        if (LegacyEnvelope.TryRead(item.Body, out var problem) is { } legacy)
        {
            transaction.Complete(item).Enqueue(_queues.Outbound, new QueueItem(legacy.Envelope, legacy.Message));
        }
        else
        {
            _logger.LogError("Message {Id} cannot be delivered: {Problem}", item.Id, problem);
            transaction.DeadLetter(item, problem!);
            _events.AddTo(transaction, MailEvent.Error(ServiceNames.Sender, item.Envelope.Uuid, _time.GetUtcNow(), problem!));
        }
        try
        {
            await _store.CommitAsync(transaction, CancellationToken.None).ConfigureAwait(false);
        }
        catch (LeaseLostException)
        {
            _logger.LogWarning("Lease on message {Id} was lost; leaving it to its new holder", item.Id);
        }
    }

    private async Task TryReleaseAsync(LeasedItem item)
    {
        try
        {
            await _store.CommitAsync(new QueueTransaction().Release(item), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is LeaseLostException or ObjectDisposedException or InvalidOperationException)
        {
            _logger.LogDebug(e, "Could not hand message {Id} back; its lease will expire", item.Id);
        }
    }

    /// <summary>A failure nobody foresaw: every recipient is deferred as after a failed attempt (so the retry schedule and
    /// the queue lifetime apply, and bounces end it), and an error event says what happened.</summary>
    private async Task TrySettleFailureAsync(LeasedItem item, string error)
    {
        var now = _time.GetUtcNow();
        var reason = "internal error: " + error;
        var envelope = item.Envelope;
        var transaction = new QueueTransaction();
        if (envelope.Recipients.Count == 0)
        {
            // Not read yet (a legacy envelope): nothing to settle per recipient, so the message waits for its next attempt.
            var next = new RetrySchedule(_options.Retries).Next(item.Attempts, item.CreatedAt, now, _options.MaxQueueLifetime) ?? now + _options.FirstRetryDelay;
            transaction.Retry(item, next);
        }
        else
        {
            var tenant = envelope.Tenant ?? _options.Delivery.Tenant;
            var outcomes = envelope.Recipients.Select(r => new QueuedOutcome(ScheduledQueueName.Of(envelope.Campaign, tenant, DomainOf(r)),
                new RecipientOutcome.Deferred(r, reason, SiteAnswered: true))).ToArray();
            transaction = _settlement.Settle(item, outcomes, now).Transaction;
        }
        _events.AddTo(transaction, MailEvent.Error(ServiceNames.Sender, envelope.Uuid, now, reason));
        try
        {
            await _store.CommitAsync(transaction, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is LeaseLostException or ObjectDisposedException or InvalidOperationException)
        {
            _logger.LogDebug(e, "Could not settle message {Id} after: {Reason}; its lease will expire", item.Id, reason);
        }
    }

    internal static string DomainOf(string address)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? "" : address[(at + 1)..].TrimEnd('.').ToLowerInvariant();
    }
}
