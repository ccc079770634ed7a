using System.Net.Http.Headers;
using ManycoreMail.Classification;
using ManycoreMail.Dkim;
using ManycoreMail.Events;
using ManycoreMail.Hosting;
using ManycoreMail.Inbound;
using ManycoreMail.Metrics;
using ManycoreMail.Mime;
using ManycoreMail.Queue;
using ManycoreMail.Webhooks;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.InboundDelivery;

/// <summary>How the inbound worker posts and retries.</summary>
/// <param name="HostName">Ours, for the bounce report (Reporting-MTA, MAILER-DAEMON@).</param>
/// <param name="MaxQueueLifetime">The sender's <c>max-queue-lifetime-seconds</c>: after it an untaken mail bounces.</param>
internal sealed record InboundDeliveryOptions(string HostName, TimeSpan MaxQueueLifetime)
{
    public TimeSpan FirstRetry { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan MaxRetry { get; init; } = TimeSpan.FromHours(1);
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public int Concurrency { get; init; } = 8;
}

/// <summary>
/// Leases INBOUND-TO-CUSTOMER and POSTs each mail to its route's URL, signed with every secret of the route
/// (Standard Webhooks; the item's id is the <c>webhook-id</c> and the JSON's <c>id</c>, the same on every retry).
/// A 2xx completes the item with one <c>inbound</c> event per recipient. Anything else (another status, a redirect,
/// no answer) retries with exponential back-off; once the mail is older than <c>max-queue-lifetime</c> it bounces:
/// a <c>bounce</c> event per recipient and an RFC 3464 report to the MAIL FROM (none for the null sender) on the
/// outbound queue, in the same transaction that completes the item. Never a silent drop.
/// </summary>
internal sealed class InboundDeliveryRole : IDisposable
{
    public const string Name = "inbound-delivery";
    /// <summary>Longer than a POST can take; the lease keeper renews it while work goes on.</summary>
    private static readonly TimeSpan LeaseTime = TimeSpan.FromMinutes(2);
    private static readonly MediaTypeHeaderValue Json = MediaTypeHeaderValue.Parse("application/json; charset=utf-8");
    private static readonly MediaTypeHeaderValue Rfc822 = MediaTypeHeaderValue.Parse("message/rfc822");

    private readonly IQueueStore _store;
    private readonly string _queue;
    private readonly string _outbound;
    private readonly InboundRouteTable _routes;
    private readonly InboundDeliveryOptions _options;
    private readonly DkimVerifier _dkim;
    private readonly EventQueue _events;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly Dictionary<string, StandardWebhookSigner> _signers;
    private readonly LabelledCounter _posts;
    private readonly Counter _delivered;
    private readonly Counter _bounced;
    private readonly Counter _reports;

    public InboundDeliveryRole(IQueueStore store, string queue, string outboundQueue, InboundRouteTable routes, InboundDeliveryOptions options,
        IDkimKeyResolver dkimKeys, EventQueue events, MetricsRegistry metrics, TimeProvider time, ILogger<InboundDeliveryRole> logger)
    {
        _store = store;
        _queue = queue;
        _outbound = outboundQueue;
        _routes = routes;
        _options = options;
        _dkim = new DkimVerifier(dkimKeys, time);
        _events = events;
        _time = time;
        _logger = logger;
        _http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = options.RequestTimeout };
        _signers = routes.Routes.ToDictionary(r => r.Match, r => new StandardWebhookSigner(r.Secrets), StringComparer.OrdinalIgnoreCase);
        _posts = metrics.Family(new LabelledCounter("mailer_inbound_posts_total",
            "POSTs of inbound mail to customers' URLs, by answer (the HTTP status, or error when none came).", "status"));
        _delivered = metrics.Counter("mailer_inbound_delivered_total", "Inbound mails a customer's URL took.");
        _bounced = metrics.Counter("mailer_inbound_bounced_total", "Inbound mails given up after max-queue-lifetime (bounced to the sender).");
        _reports = metrics.Counter("mailer_inbound_bounce_reports_total", "Delivery status notifications queued to the senders of bounced inbound mail (none for the null sender).");
        metrics.Gauge("mailer_inbound_queue_messages", $"Messages on queue {queue} (inbound mail waiting for the customer's URL).",
            async cancellationToken => await store.CountAsync(queue, cancellationToken).ConfigureAwait(false));
    }

    public IMailerRole AsRole() => new BackgroundLoop(Name, RunAsync, _logger, _time);

    public void Dispose() => _http.Dispose();

    private async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            var batch = await _store.LeaseAsync(_queue, _options.Concurrency, 64L * 1024 * 1024, LeaseTime, stopping).ConfigureAwait(false);
            if (batch.Count == 0)
            {
                await _store.WaitForItemsAsync(_queue, TimeSpan.FromSeconds(1), stopping).ConfigureAwait(false);
                continue;
            }
            await Task.WhenAll(batch.Select(item => DeliverAsync(item, stopping))).ConfigureAwait(false);
        }
    }

    private async Task DeliverAsync(LeasedItem item, CancellationToken stopping)
    {
        var transaction = new QueueTransaction();
        try
        {
            await SettleAsync(item, transaction, stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            transaction = new QueueTransaction().Release(item);
        }
        catch (Exception e)
        {
            // Never an exception out of one mail: it is retried (and bounces once too old), the worker goes on.
            _logger.LogError(e, "Inbound mail {Id} failed unexpectedly; retrying it", item.Envelope.Uuid);
            transaction = new QueueTransaction().Retry(item, NextAttempt(item));
        }
        try
        {
            await _store.CommitAsync(transaction, CancellationToken.None).ConfigureAwait(false);
        }
        catch (LeaseLostException)
        {
            _logger.LogWarning("Lost the lease on inbound mail {Id}; it may be posted twice (with the same webhook-id)", item.Envelope.Uuid);
        }
    }

    private async Task SettleAsync(LeasedItem item, QueueTransaction transaction, CancellationToken stopping)
    {
        var now = _time.GetUtcNow();
        var id = item.Envelope.Uuid ?? item.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var recipients = item.Envelope.Recipients;
        var route = recipients.Select(_routes.Find).FirstOrDefault(r => r is not null);
        if (now - item.CreatedAt >= _options.MaxQueueLifetime)
        {
            GiveUp(item, id, transaction, route is null ? "no inbound route matches the recipients any more" : $"{route.Url.Host} did not take the mail", now);
            return;
        }
        if (route is null)
        {
            // The configuration changed under a queued mail: keep it until a route is back or its lifetime ends.
            _logger.LogWarning("No inbound route matches {Recipients} of mail {Id} any more; keeping it", string.Join(", ", recipients), id);
            transaction.Retry(item, NextAttempt(item));
            return;
        }

        var (body, contentType) = route.Format == InboundFormat.Raw
            ? (item.Body, Rfc822)
            : (await JsonBodyAsync(item, id, stopping).ConfigureAwait(false), Json);
        var status = await PostAsync(route, id, body, contentType, stopping).ConfigureAwait(false);
        if (status is >= 200 and < 300)
        {
            transaction.Complete(item);
            foreach (var recipient in recipients)
            {
                _events.AddTo(transaction, MailEvent.Inbound(id, now, recipient, route.Url.Host, status.Value));
            }
            _delivered.Increment();
            return;
        }
        var next = NextAttempt(item);
        _logger.LogWarning("Inbound mail {Id} for {Recipients}: {Host} answered {Status}; retrying at {Next:u}",
            id, string.Join(", ", recipients), route.Url.Host, status?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "nothing", next);
        transaction.Retry(item, next);
    }

    private async Task<ReadOnlyMemory<byte>> JsonBodyAsync(LeasedItem item, string id, CancellationToken stopping)
    {
        var spf = MessageHeaders.TryParse(item.Body, out var headers, out _) ? InboundTrace.SpfResult(headers) : "none";
        var dkim = await _dkim.VerifyAsync(item.Body, stopping).ConfigureAwait(false);
        var facts = new InboundMailFacts(id, item.Envelope.ReturnPath ?? "", item.Envelope.Recipients, spf, dkim);
        return InboundMailJson.Build(item.Body, facts);
    }

    /// <summary>The status the URL answered, or null when none came (connection refused, timeout).</summary>
    private async Task<int?> PostAsync(InboundRoute route, string id, ReadOnlyMemory<byte> body, MediaTypeHeaderValue contentType, CancellationToken stopping)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, route.Url) { Content = new ReadOnlyMemoryContent(body) };
        request.Content.Headers.ContentType = contentType;
        foreach (var (name, value) in _signers[route.Match].Headers(id, _time.GetUtcNow(), body.Span))
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stopping).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            _posts.Increment(status.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return status;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !stopping.IsCancellationRequested)
        {
            _posts.Increment("error");
            _logger.LogWarning("Posting inbound mail {Id} to {Host} failed: {Error}", id, route.Url.Host, e.Message);
            return null;
        }
    }

    /// <summary>Exponential back-off from <see cref="InboundDeliveryOptions.FirstRetry"/>, capped at
    /// <see cref="InboundDeliveryOptions.MaxRetry"/>, and never past the mail's expiry so its bounce is not late.</summary>
    private DateTimeOffset NextAttempt(LeasedItem item)
    {
        var delay = _options.FirstRetry * Math.Pow(2, Math.Min(item.Attempts, 30));
        if (delay > _options.MaxRetry)
        {
            delay = _options.MaxRetry;
        }
        var next = _time.GetUtcNow() + delay;
        var expiry = item.CreatedAt + _options.MaxQueueLifetime;
        return next < expiry ? next : expiry;
    }

    private void GiveUp(LeasedItem item, string id, QueueTransaction transaction, string why, DateTimeOffset now)
    {
        var reason = $"inbound mail not delivered within {_options.MaxQueueLifetime:d\\.hh\\:mm\\:ss}: {why}";
        transaction.Complete(item);
        foreach (var recipient in item.Envelope.Recipients)
        {
            _events.AddTo(transaction, MailEvent.Bounce(id, now, "", BounceTypes.Soft, reason, recipient));
        }
        var sender = item.Envelope.ReturnPath ?? "";
        var spf = MessageHeaders.TryParse(item.Body, out var headers, out _) ? InboundTrace.SpfResult(headers) : "none";
        if (sender.Length > 0 && spf != "pass")
        {
            // Anyone can put anyone's address in MAIL FROM: a report to a sender SPF did not vouch for would be
            // backscatter, which gets the MX server's address listed. The bounce events still say what happened.
            _logger.LogWarning("Inbound mail {Id}: no report to {Sender}, whose address SPF did not confirm ({Spf})", id, sender, spf);
        }
        else if (sender.Length > 0)
        {
            // The null return path: a report about a report must never be made.
            var report = InboundBounceReport.Build(_options.HostName, sender, item.Envelope.Recipients, item.Body, reason,
                item.Envelope.AcceptedAt ?? item.CreatedAt, now);
            transaction.Enqueue(_outbound, new QueueItem(new MessageEnvelope { ReturnPath = "", Recipients = [sender] }, report));
            _reports.Increment();
        }
        _bounced.Increment();
        _logger.LogWarning("Inbound mail {Id} for {Recipients} bounced: {Reason}", id, string.Join(", ", item.Envelope.Recipients), reason);
    }
}
