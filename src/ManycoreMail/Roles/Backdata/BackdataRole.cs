using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using ManycoreMail.Config;
using ManycoreMail.Events;
using ManycoreMail.Hosting;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Backdata;

/// <summary>
/// Posts events to the customer's webhook as JSON arrays of up to 50. An event leaves the queue only after
/// the webhook accepted its batch; a failed POST keeps the batch and tries again with back-off (the
/// original dropped it).
/// </summary>
internal sealed class BackdataRole : IDisposable
{
    private static readonly TimeSpan LeaseTime = TimeSpan.FromMinutes(2);
    private static readonly MediaTypeHeaderValue JsonUtf8 = MediaTypeHeaderValue.Parse("application/json; charset=utf-8");

    private readonly IQueueStore _store;
    private readonly string _queue;
    private readonly BackdataOptions _options;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<string, Counter> _byKind;
    private readonly Counter _malformed;
    private readonly Counter _pushed;
    private readonly Counter _failed;
    private long _posting;

    public BackdataRole(IQueueStore store, QueueNames queues, BackdataOptions options, MetricsRegistry metrics, TimeProvider time, ILogger<BackdataRole> logger)
    {
        _store = store;
        _queue = queues.Events;
        _options = options;
        _time = time;
        _logger = logger;
        _http = new HttpClient { Timeout = options.RequestTimeout };
        _byKind = new Dictionary<string, Counter>(StringComparer.Ordinal)
        {
            [EventKinds.Delivered] = metrics.Counter("delivered_events_total", "Delivered events posted."),
            [EventKinds.Bounce] = metrics.Counter("bounced_events_total", "Bounce events posted."),
            [EventKinds.Error] = metrics.Counter("error_events_total", "Error events posted."),
            [EventKinds.SpamReport] = metrics.Counter("spam_report_events_total", "Spam-report events posted."),
            [EventKinds.Unsubscribe] = metrics.Counter("unsubscribe_events_total", "Unsubscribe events posted."),
        };
        _malformed = metrics.Counter("malformed_events_total", "Events of unknown kind or not JSON.");
        _pushed = metrics.Counter("successfully_pushed_events_total", "Events the webhook accepted.");
        _failed = metrics.Counter("failed_pushed_events_total", "Events whose POST failed (they are kept and retried).");
        metrics.Gauge("number_of_events_currently_posting", "Events in a POST that has not answered yet.", () => Interlocked.Read(ref _posting));
    }

    /// <summary>The role as the host runs it.</summary>
    public IMailerRole AsRole() => new BackgroundLoop(RoleNames.Backdata, RunAsync, _logger, _time);

    public void Dispose() => _http.Dispose();

    private async Task RunAsync(CancellationToken stopping)
    {
        var delay = TimeSpan.Zero;
        while (!stopping.IsCancellationRequested)
        {
            var batch = await _store.LeaseAsync(_queue, _options.BatchSize, LeaseTime, stopping).ConfigureAwait(false);
            if (batch.Count == 0)
            {
                await _store.WaitForItemsAsync(_queue, TimeSpan.FromSeconds(1), stopping).ConfigureAwait(false);
                continue;
            }
            var (body, valid, malformed) = BuildBody(batch);
            var transaction = new QueueTransaction();
            foreach (var item in malformed)
            {
                transaction.DeadLetter(item, "not a JSON object");
            }
            bool posted;
            try
            {
                posted = valid.Count > 0 && await PostAsync(body, valid.Count, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                // Stopping mid-POST: hand the batch back so the next start posts it (perhaps twice; never lost).
                foreach (var (item, _) in valid)
                {
                    transaction.Release(item);
                }
                await _store.CommitAsync(transaction, CancellationToken.None).ConfigureAwait(false);
                throw;
            }
            if (posted)
            {
                foreach (var (item, kind) in valid)
                {
                    transaction.Complete(item);
                    Count(kind);
                }
                delay = TimeSpan.Zero;
            }
            else if (valid.Count > 0)
            {
                delay = delay == TimeSpan.Zero ? TimeSpan.FromSeconds(1) : TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxRetryDelay.Ticks));
                var retryAt = _time.GetUtcNow() + delay;
                foreach (var (item, _) in valid)
                {
                    transaction.Retry(item, retryAt);
                }
            }
            try
            {
                await _store.CommitAsync(transaction, CancellationToken.None).ConfigureAwait(false);
            }
            catch (LeaseLostException)
            {
                _logger.LogWarning("Lost the lease on an event batch; its events may be posted twice");
            }
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, _time, stopping).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The JSON array to post. Internal fields (<c>rcpt</c>, <c>fd</c>) that producers on a shared
    /// Redis may still add are removed: the customer never sees them.</summary>
    private (byte[] Body, List<(LeasedItem Item, string? Kind)> Valid, List<LeasedItem> Malformed) BuildBody(IReadOnlyList<LeasedItem> batch)
    {
        var array = new JsonArray();
        var valid = new List<(LeasedItem, string?)>(batch.Count);
        var malformed = new List<LeasedItem>();
        foreach (var item in batch)
        {
            JsonObject? json;
            try
            {
                json = JsonNode.Parse(item.Body.Span) as JsonObject;
            }
            catch (JsonException)
            {
                json = null;
            }
            if (json is null)
            {
                _malformed.Increment();
                _logger.LogError("Event {Id} is not a JSON object; moved to dead-letter", item.Id);
                malformed.Add(item);
                continue;
            }
            json.Remove("rcpt");
            json.Remove("fd");
            array.Add(json);
            valid.Add((item, (json["event"] as JsonValue)?.GetValue<string>()));
        }
        return (JsonSerializer.SerializeToUtf8Bytes(array), valid, malformed);
    }

    private async Task<bool> PostAsync(byte[] body, int count, CancellationToken cancellationToken)
    {
        Interlocked.Add(ref _posting, count);
        try
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = JsonUtf8;
            using var response = await _http.PostAsync(_options.PostUrl, content, cancellationToken).ConfigureAwait(false);
            if ((int)response.StatusCode < 400)
            {
                _pushed.Increment(count);
                return true;
            }
            _failed.Increment(count);
            _logger.LogWarning("Webhook answered {Status} to a batch of {Count} events; keeping them for a retry", (int)response.StatusCode, count);
            return false;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            _failed.Increment(count);
            _logger.LogWarning("Posting {Count} events failed ({Error}); keeping them for a retry", count, e.Message);
            return false;
        }
        finally
        {
            Interlocked.Add(ref _posting, -count);
        }
    }

    private void Count(string? kind)
    {
        if (kind is not null && _byKind.TryGetValue(kind, out var counter))
        {
            counter.Increment();
        }
        else
        {
            // Posted all the same, as the original did: the customer may know kinds we do not.
            _malformed.Increment();
        }
    }
}
