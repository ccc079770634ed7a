using System.Data.Common;
using System.Security.Cryptography;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using ManycoreMail.Config;
using ManycoreMail.Events;
using ManycoreMail.EventStore;
using ManycoreMail.Hosting;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Webhooks;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Backdata;

/// <summary>
/// Posts events to the customer's webhook as JSON arrays of up to <c>backdata/batch-size</c> (50, as the original). An event leaves the queue only after
/// the webhook accepted its batch (a 2xx answer); a failed POST keeps the batch and tries again with back-off
/// (the original dropped it). A redirect is a failure too: the POST body does not follow it.
/// </summary>
/// <remarks>
/// An event that cannot be posted as it is must not hold up the others behind it: one that is not a JSON object
/// (or not valid UTF-8) goes to dead-letter before any POST; and when the webhook says the payload itself is bad
/// (400, 413 or 422) the batch is split in halves and each posted again, so that the good events go and the one
/// that the webhook refuses on its own is dead-lettered. Any other answer (3xx, 401, 403, 404, 408, 429, 5xx) or
/// no answer is about the webhook, not the events: everything is retried. <c>mailer events dead-letters</c> lists
/// and replays the dead letters.
/// With an event store, each leased batch is appended to it before the POST, so the store has the events even while
/// the webhook is down; a batch whose append fails is retried like one the webhook did not take.
/// Only the original's kinds, and those of ours that <c>backdata/event-types</c> lists, are posted (issue 12: the
/// original's consumers see nothing new by default); every other event is stored and then completed.
/// Every posted event carries an <c>id</c> so that the webhook can drop a retry it has already taken: the store
/// assigns its ids only inside the append (and refuses events that bring one), so the id is derived from the event's
/// own bytes and is the same on every retry. With <c>backdata/signing-secrets</c> each POST is signed as Standard
/// Webhooks says, its <c>webhook-id</c> derived from the ids of the events in it: a retry of the same batch has the same.
/// </remarks>
internal sealed class BackdataRole : IDisposable
{
    private static readonly TimeSpan LeaseTime = TimeSpan.FromMinutes(2);
    /// <summary>Bounds the ids remembered as stored while their POST is retried; past it they are forgotten, and a
    /// long webhook outage costs some duplicate rows rather than unbounded memory.</summary>
    private const int MaxRememberedStored = 100_000;
    private static readonly MediaTypeHeaderValue JsonUtf8 = MediaTypeHeaderValue.Parse("application/json; charset=utf-8");

    private readonly IQueueStore _store;
    private readonly string _queue;
    private readonly BackdataOptions _options;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<string, Counter> _byKind;
    private readonly Counter _malformed;
    private readonly Counter _unposted;
    private readonly Counter _pushed;
    private readonly Counter _failed;
    private readonly Counter _deadLettered;
    private readonly IEventStore? _eventStore;
    private readonly Counter _unstorable;
    private readonly StandardWebhookSigner? _signer;
    /// <summary>Queue items appended to the store whose POST has not succeeded yet: a retried batch is not appended
    /// again (appends stay at least once: a restart forgets these).</summary>
    private readonly HashSet<long> _stored = [];
    private long _posting;

    /// <param name="eventStore">Where every event is also kept (<c>events</c>); null: the webhook only.</param>
    public BackdataRole(IQueueStore store, QueueNames queues, BackdataOptions options, MetricsRegistry metrics, TimeProvider time, ILogger<BackdataRole> logger,
        IEventStore? eventStore = null)
    {
        _store = store;
        _eventStore = eventStore;
        _queue = queues.Events;
        _options = options;
        _time = time;
        _logger = logger;
        _http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = options.RequestTimeout };
        _signer = options.SigningSecrets.Count > 0 ? new StandardWebhookSigner(options.SigningSecrets) : null;
        _byKind = new Dictionary<string, Counter>(StringComparer.Ordinal)
        {
            [EventKinds.Delivered] = metrics.Counter("delivered_events_total", "Delivered events posted."),
            [EventKinds.Bounce] = metrics.Counter("bounced_events_total", "Bounce events posted."),
            [EventKinds.Error] = metrics.Counter("error_events_total", "Error events posted."),
            [EventKinds.SpamReport] = metrics.Counter("spam_report_events_total", "Spam-report events posted."),
            [EventKinds.Unsubscribe] = metrics.Counter("unsubscribe_events_total", "Unsubscribe events posted."),
        };
        foreach (var kind in EventKinds.Added)
        {
            _byKind[kind] = metrics.Counter($"{kind}_events_total", $"{char.ToUpperInvariant(kind[0])}{kind[1..]} events posted (listed in backdata/event-types).");
        }
        _malformed = metrics.Counter("malformed_events_total", "Events of unknown kind or not JSON.");
        _unposted = metrics.Counter("unposted_events_total", "Events stored but not posted: kinds backdata/event-types does not list, and unknown kinds.");
        _pushed = metrics.Counter("successfully_pushed_events_total", "Events the webhook accepted.");
        _failed = metrics.Counter("failed_pushed_events_total", "Events whose POST failed (they are kept and retried).");
        _deadLettered = metrics.Counter("dead_lettered_events_total", "Events moved to dead-letter (not JSON, or refused by the webhook on their own).");
        _unstorable = metrics.Counter("unstorable_events_total", "Events posted but not kept in the event store (no event or timestamp member, or an id of their own).");
        metrics.Gauge("number_of_events_currently_posting", "Events in a POST that has not answered yet.", () => Interlocked.Read(ref _posting));
    }

    /// <summary>The role as the host runs it.</summary>
    public IMailerRole AsRole() => new BackgroundLoop(RoleNames.Backdata, RunAsync, _logger, _time);

    public void Dispose() => _http.Dispose();

    private async Task RunAsync(CancellationToken stopping)
    {
        if (_options.PostUrl is null)
        {
            _logger.LogInformation("No backdata/post-url: events are stored only (`mailer events`, GET /v1/events)");
        }
        var delay = TimeSpan.Zero;
        while (!stopping.IsCancellationRequested)
        {
            var batch = await _store.LeaseAsync(_queue, _options.BatchSize, LeaseTime, stopping).ConfigureAwait(false);
            if (batch.Count == 0)
            {
                await _store.WaitForItemsAsync(_queue, TimeSpan.FromSeconds(1), stopping).ConfigureAwait(false);
                continue;
            }
            var transaction = new QueueTransaction();
            var events = new List<PendingEvent>(batch.Count);
            foreach (var item in batch)
            {
                if (PendingEvent.From(item) is { } pending)
                {
                    events.Add(pending);
                }
                else
                {
                    _malformed.Increment();
                    DeadLetter(transaction, item, "not a JSON object in UTF-8");
                }
            }
            var retry = new List<PendingEvent>();
            try
            {
                if (await StoreAsync(events, stopping).ConfigureAwait(false))
                {
                    await PostSplittingAsync(SettleUnposted(events, transaction), transaction, retry, stopping).ConfigureAwait(false);
                    Forget(events);
                }
                else
                {
                    retry.AddRange(events);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                // Stopping mid-POST: hand back what is not settled so the next start posts it (perhaps twice; never lost).
                foreach (var pending in events.Where(e => !e.Settled))
                {
                    transaction.Release(pending.Item);
                }
                await CommitAsync(transaction).ConfigureAwait(false);
                throw;
            }
            if (retry.Count > 0)
            {
                delay = delay == TimeSpan.Zero ? TimeSpan.FromSeconds(1) : TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxRetryDelay.Ticks));
                var retryAt = _time.GetUtcNow() + delay;
                foreach (var pending in retry)
                {
                    transaction.Retry(pending.Item, retryAt);
                }
            }
            else
            {
                delay = TimeSpan.Zero;
            }
            await CommitAsync(transaction).ConfigureAwait(false);
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, _time, stopping).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Appends the events not yet stored to the event store; false when the append failed (the batch is
    /// then retried whole, so that no event reaches the webhook without being stored).</summary>
    private async Task<bool> StoreAsync(List<PendingEvent> events, CancellationToken cancellationToken)
    {
        if (_eventStore is null)
        {
            return true;
        }
        var inputs = new List<StoredEventInput>(events.Count);
        var appended = new List<long>(events.Count);
        foreach (var pending in events.Where(e => !_stored.Contains(e.Item.Id)))
        {
            try
            {
                inputs.Add(StoredEventInput.FromJson(pending.Json));
                appended.Add(pending.Item.Id);
            }
            catch (ArgumentException e)
            {
                // The webhook takes any JSON object, as it always did; only the store needs these members.
                _unstorable.Increment();
                _logger.LogWarning("Event {Id} (uuid {Uuid}) is posted but not stored: {Reason}", pending.Item.Id, pending.Item.Envelope.Uuid, e.Message);
            }
        }
        try
        {
            await _eventStore.AppendAsync(inputs, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DbException or IOException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            _logger.LogWarning("Storing {Count} events failed ({Error}); keeping them for a retry", inputs.Count, e.Message);
            return false;
        }
        if (_stored.Count + appended.Count > MaxRememberedStored)
        {
            _stored.Clear();
        }
        _stored.UnionWith(appended);
        return true;
    }

    /// <summary>Completes the stored events the webhook is not to get (backdata/event-types) and returns the others:
    /// kept in the store, an unposted event is done with, never retried or dead-lettered.</summary>
    private List<PendingEvent> SettleUnposted(List<PendingEvent> events, QueueTransaction transaction)
    {
        var posted = new List<PendingEvent>(events.Count);
        foreach (var pending in events)
        {
            if (_options.Posts(pending.Kind))
            {
                posted.Add(pending);
                continue;
            }
            if (pending.Kind is null || !EventKinds.Added.Contains(pending.Kind) && !EventKinds.Original.Contains(pending.Kind))
            {
                _malformed.Increment();
            }
            _unposted.Increment();
            transaction.Complete(pending.Item);
            pending.Settled = true;
        }
        return posted;
    }

    /// <summary>Settled events leave the queue: nothing will lease them again.</summary>
    private void Forget(List<PendingEvent> events)
    {
        foreach (var pending in events.Where(e => e.Settled))
        {
            _stored.Remove(pending.Item.Id);
        }
    }

    /// <summary>Posts <paramref name="events"/> as one array; when the webhook refuses the payload, posts each half
    /// on its own, down to single events, which are then dead-lettered. At most 2n - 1 POSTs for n events.</summary>
    private async Task PostSplittingAsync(List<PendingEvent> events, QueueTransaction transaction, List<PendingEvent> retry, CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return;
        }
        var answer = await PostAsync(events, cancellationToken).ConfigureAwait(false);
        switch (answer)
        {
            case PostAnswer.Accepted:
                foreach (var pending in events)
                {
                    transaction.Complete(pending.Item);
                    pending.Settled = true;
                    Count(pending.Kind);
                }
                break;
            case PostAnswer.PayloadRefused when events.Count == 1:
                DeadLetter(transaction, events[0].Item, $"the webhook refused this event on its own ({events[0].Status})");
                events[0].Settled = true;
                break;
            case PostAnswer.PayloadRefused:
                var half = events.Count / 2;
                await PostSplittingAsync(events[..half], transaction, retry, cancellationToken).ConfigureAwait(false);
                await PostSplittingAsync(events[half..], transaction, retry, cancellationToken).ConfigureAwait(false);
                break;
            default:
                retry.AddRange(events);
                break;
        }
    }

    private async Task<PostAnswer> PostAsync(List<PendingEvent> events, CancellationToken cancellationToken)
    {
        var count = events.Count;
        Interlocked.Add(ref _posting, count);
        try
        {
            using var request = Request(events);
            using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (status is >= 200 and < 300)
            {
                _pushed.Increment(count);
                return PostAnswer.Accepted;
            }
            _failed.Increment(count);
            events.ForEach(e => e.Status = status);
            if (status is >= 300 and < 400)
            {
                _logger.LogWarning("Webhook answered {Status} (a redirect to {Location}) to a batch of {Count} events; a redirect loses the POST body, so they are kept for a retry: configure the new address as backdata/post-url",
                    status, response.Headers.Location?.ToString() ?? "nowhere", count);
                return PostAnswer.Failed;
            }
            if (status is 400 or 413 or 422)
            {
                _logger.LogWarning("Webhook refused a batch of {Count} events with {Status}; posting it in parts to find the event it refuses", count, status);
                return PostAnswer.PayloadRefused;
            }
            _logger.LogWarning("Webhook answered {Status} to a batch of {Count} events; keeping them for a retry", status, count);
            return PostAnswer.Failed;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            _failed.Increment(count);
            _logger.LogWarning("Posting {Count} events failed ({Error}); keeping them for a retry", count, e.Message);
            return PostAnswer.Failed;
        }
        finally
        {
            Interlocked.Add(ref _posting, -count);
        }
    }

    /// <summary>The POST of one batch: the configured headers, then the signature over the exact bytes sent.</summary>
    private HttpRequestMessage Request(List<PendingEvent> events)
    {
        var body = PendingEvent.ToArray(events);
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = JsonUtf8;
        var request = new HttpRequestMessage(HttpMethod.Post, _options.PostUrl) { Content = content };
        foreach (var (name, value) in _options.Headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        if (_signer is not null)
        {
            foreach (var (name, value) in _signer.Headers(PendingEvent.BatchId(events), _time.GetUtcNow(), body))
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
        }
        return request;
    }

    private void DeadLetter(QueueTransaction transaction, LeasedItem item, string reason)
    {
        _deadLettered.Increment();
        _logger.LogError("Event {Id} (uuid {Uuid}) moved to dead-letter: {Reason}; `mailer events dead-letters` lists it and `--replay` puts it back",
            item.Id, item.Envelope.Uuid, reason);
        transaction.DeadLetter(item, reason);
    }

    private async Task CommitAsync(QueueTransaction transaction)
    {
        try
        {
            await _store.CommitAsync(transaction, CancellationToken.None).ConfigureAwait(false);
        }
        catch (LeaseLostException)
        {
            _logger.LogWarning("Lost the lease on an event batch; its events may be posted twice");
        }
    }

    private void Count(string? kind)
    {
        // Only the original's kinds and listed ones of ours are posted (SettleUnposted), and each has its counter.
        if (kind is not null && _byKind.TryGetValue(kind, out var counter))
        {
            counter.Increment();
        }
    }

    private enum PostAnswer
    {
        Accepted,
        /// <summary>400, 413 or 422: the webhook says the payload is bad.</summary>
        PayloadRefused,
        Failed,
    }

    /// <summary>A leased event as it will be posted: validated and serialised on its own, so one bad event is
    /// found before any POST and an array of any subset is the events' bytes joined by commas.</summary>
    private sealed class PendingEvent
    {
        private PendingEvent(LeasedItem item, byte[] json, byte[] posted, string id, string? kind)
        {
            Item = item;
            Json = json;
            Posted = posted;
            Id = id;
            Kind = kind;
        }

        public LeasedItem Item { get; }
        /// <summary>The event as the store gets it (without <c>id</c>: the store refuses events that bring one).</summary>
        public byte[] Json { get; }
        /// <summary>The event as the webhook gets it: <see cref="Json"/> with its <c>id</c>.</summary>
        public byte[] Posted { get; }
        /// <summary>The event's own <c>id</c> if it brought one, else one derived from its bytes: the same on every retry.</summary>
        public string Id { get; }
        public string? Kind { get; }
        /// <summary>Completed or dead-lettered in this round (a stop releases the others).</summary>
        public bool Settled { get; set; }
        /// <summary>The webhook's last answer to a batch holding this event.</summary>
        public int Status { get; set; }

        /// <summary>The event without the internal fields (<c>rcpt</c>, <c>fd</c>) that producers on a shared Redis
        /// may still add: the customer never sees them. Null when the bytes are not a JSON object in valid UTF-8.</summary>
        public static PendingEvent? From(LeasedItem item)
        {
            // The parser checks the structure, not the bytes inside strings (it copies those as they are).
            if (!System.Text.Unicode.Utf8.IsValid(item.Body.Span))
            {
                return null;
            }
            try
            {
                if (JsonNode.Parse(item.Body.Span) is not JsonObject json)
                {
                    return null;
                }
                json.Remove("rcpt");
                json.Remove("fd");
                var bytes = JsonSerializer.SerializeToUtf8Bytes(json);
                var kind = (json["event"] as JsonValue)?.TryGetValue<string>(out var text) == true ? text : null;
                if ((json["id"] as JsonValue)?.TryGetValue<string>(out var own) == true && own.Length > 0)
                {
                    return new PendingEvent(item, bytes, bytes, own, kind);
                }
                var id = "evt_" + Convert.ToHexStringLower(SHA256.HashData(bytes).AsSpan(0, 16));
                json["id"] = id;
                return new PendingEvent(item, bytes, JsonSerializer.SerializeToUtf8Bytes(json), id, kind);
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
            {
                return null;
            }
        }

        public static byte[] ToArray(List<PendingEvent> events)
        {
            var length = 2 + events.Sum(e => e.Posted.Length) + Math.Max(0, events.Count - 1);
            var array = new byte[length];
            array[0] = (byte)'[';
            var at = 1;
            for (var i = 0; i < events.Count; i++)
            {
                if (i > 0)
                {
                    array[at++] = (byte)',';
                }
                events[i].Posted.CopyTo(array, at);
                at += events[i].Posted.Length;
            }
            array[at] = (byte)']';
            return array;
        }

        /// <summary>The <c>webhook-id</c> of a POST of these events: the same events in the same order, the same id.</summary>
        public static string BatchId(List<PendingEvent> events)
        {
            var ids = System.Text.Encoding.UTF8.GetBytes(string.Join('\n', events.Select(e => e.Id)));
            return "msg_" + Convert.ToHexStringLower(SHA256.HashData(ids).AsSpan(0, 16));
        }
    }
}
