using ManycoreMail.Config;
using ManycoreMail.Events;
using ManycoreMail.Hosting;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Sender;

/// <summary>
/// Delivers queued messages to their recipients' MX hosts (the original's Postfix module). Each recipient
/// ends in exactly one terminal event: delivered, or bounce (at once for 5xx and unroutable domains, or
/// when the queue lifetime runs out); 4xx and connection trouble are retried with back-off.
/// </summary>
internal sealed class SenderRole
{
    private static readonly TimeSpan LeaseTime = TimeSpan.FromMinutes(30);

    private readonly IQueueStore _store;
    private readonly QueueNames _queues;
    private readonly SenderOptions _options;
    private readonly DirectDelivery _delivery;
    private readonly EventQueue _events;
    private readonly RetrySchedule _retries;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Counter _polled;
    private readonly Counter _attempted;
    private readonly SemaphoreSlim _slots;

    public SenderRole(IQueueStore store, QueueNames queues, SenderOptions options, DirectDelivery delivery, EventQueue events,
        MetricsRegistry metrics, TimeProvider time, ILogger<SenderRole> logger)
    {
        _store = store;
        _queues = queues;
        _options = options;
        _delivery = delivery;
        _events = events;
        _retries = new RetrySchedule(options);
        _time = time;
        _logger = logger;
        _slots = new SemaphoreSlim(options.MaxConcurrentDeliveries, options.MaxConcurrentDeliveries);
        _polled = metrics.Counter("postfix_emails_polled_total", "Messages taken from the outbound queue.");
        _attempted = metrics.Counter("postfix_emails_to_postfix_total", "Delivery attempts made (once per message per attempt).");
    }

    /// <summary>The role as the host runs it.</summary>
    public IMailerRole AsRole() => new BackgroundLoop(RoleNames.Sender, RunAsync, _logger, _time);

    private async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                // A slot per delivery in flight: lease only as many messages as there are free slots.
                await _slots.WaitAsync(stopping).ConfigureAwait(false);
                var free = 1;
                while (free < _options.MaxConcurrentDeliveries && _slots.Wait(0))
                {
                    free++;
                }
                IReadOnlyList<LeasedItem> batch;
                try
                {
                    batch = await _store.LeaseAsync(_queues.Outbound, free, LeaseTime, stopping).ConfigureAwait(false);
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
                _polled.Increment(batch.Count);
                foreach (var item in batch)
                {
                    await _slots.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                    _ = DeliverAndReleaseAsync(item, stopping);
                }
            }
        }
        finally
        {
            // Wait for the deliveries in flight: they stop with the token and hand their messages back.
            for (var i = 0; i < _options.MaxConcurrentDeliveries; i++)
            {
                await _slots.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            }
            _slots.Release(_options.MaxConcurrentDeliveries);
        }
    }

    private async Task DeliverAndReleaseAsync(LeasedItem item, CancellationToken stopping)
    {
        try
        {
            await DeliverAsync(item, stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Shutting down: hand the message back untouched so the next start delivers it.
            await TryReleaseAsync(item).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Delivering message {Id} ({Uuid}) failed unexpectedly; it will be retried", item.Id, item.Envelope.Uuid);
            await TryRetryAsync(item, e.Message).ConfigureAwait(false);
        }
        finally
        {
            _slots.Release();
        }
    }

    private async Task DeliverAsync(LeasedItem item, CancellationToken cancellationToken)
    {
        _attempted.Increment();
        var envelope = item.Envelope;
        var outcomes = new List<RecipientOutcome>(envelope.Recipients.Count);
        foreach (var group in envelope.Recipients.GroupBy(DomainOf, StringComparer.OrdinalIgnoreCase))
        {
            outcomes.AddRange(await _delivery.DeliverAsync(group.Key, [.. group], envelope.ReturnPath ?? "", item.Body, cancellationToken).ConfigureAwait(false));
        }

        var now = _time.GetUtcNow();
        var transaction = new QueueTransaction();
        var deferred = new List<RecipientOutcome.Deferred>();
        foreach (var outcome in outcomes)
        {
            switch (outcome)
            {
                case RecipientOutcome.Delivered delivered:
                    _events.AddTo(transaction, MailEvent.Delivered(envelope.Uuid, now, delivered.Ip, delivered.Recipient));
                    break;
                case RecipientOutcome.Bounced bounced:
                    _events.AddTo(transaction, MailEvent.Bounce(envelope.Uuid, now, bounced.Ip, bounced.Type, bounced.Reason, bounced.Recipient));
                    break;
                case RecipientOutcome.Deferred d:
                    deferred.Add(d);
                    break;
            }
        }

        var retryAt = deferred.Count == 0 ? null : _retries.Next(item.Attempts, item.CreatedAt, now);
        if (deferred.Count == 0)
        {
            transaction.Complete(item);
        }
        else if (retryAt is null)
        {
            foreach (var d in deferred)
            {
                var type = d.SiteAnswered ? "soft" : "unroutable";
                var reason = $"expired after {now - item.CreatedAt:d\\.hh\\:mm\\:ss} in queue; last error: {d.Reason}";
                _events.AddTo(transaction, MailEvent.Bounce(envelope.Uuid, now, null, type, reason, d.Recipient));
            }
            transaction.Complete(item);
        }
        else
        {
            _logger.LogInformation("Message {Uuid}: {Count} recipient(s) deferred until {RetryAt:u}: {Reason}",
                envelope.Uuid, deferred.Count, retryAt, deferred[0].Reason);
            transaction.Retry(item, retryAt.Value, envelope with { Recipients = deferred.Select(d => d.Recipient).ToArray() });
        }

        try
        {
            await _store.CommitAsync(transaction, CancellationToken.None).ConfigureAwait(false);
        }
        catch (LeaseLostException)
        {
            _logger.LogWarning("Lease on message {Id} was lost while delivering; its new holder may deliver it again", item.Id);
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

    private async Task TryRetryAsync(LeasedItem item, string reason)
    {
        var next = _retries.Next(item.Attempts, item.CreatedAt, _time.GetUtcNow()) ?? _time.GetUtcNow();
        try
        {
            await _store.CommitAsync(new QueueTransaction().Retry(item, next), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is LeaseLostException or ObjectDisposedException or InvalidOperationException)
        {
            _logger.LogDebug(e, "Could not reschedule message {Id} ({Reason}); its lease will expire", item.Id, reason);
        }
    }

    private static string DomainOf(string address)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? "" : address[(at + 1)..].TrimEnd('.').ToLowerInvariant();
    }
}
