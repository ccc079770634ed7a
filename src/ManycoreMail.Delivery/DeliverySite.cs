using System.Net.Sockets;
using ManycoreMail.Smtp;
using ManycoreMail.Smtp.Client;
using ManycoreMail.TransportSecurity;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Delivery;

/// <summary>
/// One destination site (an MX host set, or a smarthost) for one source address: its ready queue, its pool of
/// connections (reused across messages, at most <see cref="SiteLimits.MaxConnections"/>, each closed after
/// <see cref="SiteLimits.MaxDeliveriesPerConnection"/> deliveries or when idle), its rate limits, and its back-off
/// after a 421 or a connection failure. Everything here is in memory: the durable queue holds the messages.
/// </summary>
internal sealed class DeliverySite
{
    /// <summary>A connection idle longer than this is probed with RSET before it carries a message, so a server that
    /// dropped it quietly costs a reconnect and not a failed delivery.</summary>
    private static readonly TimeSpan ProbeAfterIdle = TimeSpan.FromSeconds(5);

    private readonly Lock _lock = new();
    private readonly Queue<DeliveryJob> _ready = new();
    private readonly SemaphoreSlim _readySignal = new(0);
    private readonly SiteRateLimiter _rate;
    /// <summary>The limits this site shares with the other sender processes; null when the process is alone.</summary>
    private readonly ISharedSiteLimits? _shared;
    private readonly SiteConnector _connector;
    private readonly DeliveryOptions _options;
    private readonly IDeliveryMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationToken _stopping;
    private readonly int _maxReady;
    private int _connections;
    private int _idleWorkers;
    private int _failures;
    private DateTimeOffset _backoffUntil;
    private ConnectFailure? _backoffCause;
    private bool _suspended;
    private bool _retired;
    private DateTimeOffset _lastUsed;

    public DeliverySite(string name, SiteLimits limits, SitePolicy policy, SiteConnector connector, DeliveryOptions options,
        IDeliveryMetrics metrics, TimeProvider time, ILogger logger, CancellationToken stopping, SiteEgress? egress = null,
        ISharedSiteLimits? shared = null)
    {
        Name = name;
        Egress = egress;
        Limits = limits;
        Policy = policy;
        _connector = connector;
        _options = options;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _stopping = stopping;
        _rate = new SiteRateLimiter(limits);
        _shared = shared;
        // Hold no more than about ten minutes of the site's throughput in memory; the rest waits in the durable queue.
        var perSecond = limits.DelayBetweenDeliveries is { } d ? 1 / Math.Max(d.TotalSeconds, 0.001) : double.PositiveInfinity;
        if (limits.MessagesPerSecond is { } s) perSecond = Math.Min(perSecond, s);
        if (limits.MessagesPerMinute is { } m) perSecond = Math.Min(perSecond, m / 60.0);
        if (limits.MessagesPerHour is { } h) perSecond = Math.Min(perSecond, h / 3600.0);
        _maxReady = (int)Math.Clamp(perSecond * 600, 10, 5000);
        _lastUsed = time.GetUtcNow();
    }

    /// <summary>The metrics label: the MX host set (or relay:host:port), with the source address when set.</summary>
    public string Name { get; }
    public SiteLimits Limits { get; }
    public SitePolicy Policy { get; }
    /// <summary>The source it sends from and the provider it belongs to (null only for sites made without a pool).</summary>
    public SiteEgress? Egress { get; }
    /// <summary>Suspensions and throttles adaptive shaping put on the site.</summary>
    public SiteAdaptation Adaptation { get; } = new();
    public IReadOnlyList<AdaptationView> ActiveAdaptations => Adaptation.Active(_time.GetUtcNow());

    /// <summary>Lifts adaptive shaping's suspension and throttle (<c>mailer site resume</c>) and the back-off the reply
    /// that caused them put on the site; false when neither stood.</summary>
    public bool ClearAdaptation()
    {
        if (!Adaptation.Clear(_time.GetUtcNow()))
        {
            return false;
        }
        ClearBackoff();
        return true;
    }

    public int ReadyCount { get { lock (_lock) return _ready.Count; } }
    public int ConnectionCount { get { lock (_lock) return _connections; } }
    public bool IsSuspended { get { lock (_lock) return _suspended; } }
    public DateTimeOffset? BackoffUntil { get { lock (_lock) return _backoffUntil > _time.GetUtcNow() ? _backoffUntil : null; } }

    /// <summary>True when the site holds nothing: no job waiting, no connection, no back-off or suspension to remember.</summary>
    public bool IsIdle { get { lock (_lock) return _ready.Count == 0 && _connections == 0 && !_suspended && _backoffUntil <= _time.GetUtcNow() && !Adaptation.IsActive(_time.GetUtcNow()); } }

    /// <summary>An adaptive suspension: what waits is rescheduled for its end (not an attempt), and so is what comes.</summary>
    public void SuspendFor(AdaptationView suspension)
    {
        Adaptation.Suspend(suspension);
        lock (_lock)
        {
            while (_ready.TryDequeue(out var job))
            {
                _readySignal.Wait(0);
                DeferForAdaptation(job, suspension.Until);
            }
        }
    }

    private void DeferForAdaptation(DeliveryJob job, DateTimeOffset until) =>
        job.DeferAll($"delivery to {Name} is suspended by adaptive shaping until {until:u}", siteAnswered: true, BounceClass.Throttled, until);

    public void Suspend(bool suspended)
    {
        lock (_lock)
        {
            _suspended = suspended;
        }
    }

    /// <summary>Lifts a back-off now (admin "retry now").</summary>
    public void ClearBackoff()
    {
        lock (_lock)
        {
            _backoffUntil = DateTimeOffset.MinValue;
            _failures = 0;
        }
    }

    /// <summary>Forgets the site when it has held nothing for <paramref name="idleFor"/>: true when it is retired, after
    /// which <see cref="Enqueue"/> refuses jobs (the engine makes a new site for them).</summary>
    public bool TryRetire(TimeSpan idleFor)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (_ready.Count > 0 || _connections > 0 || _suspended || _backoffUntil > now || now - _lastUsed < idleFor || Adaptation.IsActive(now))
            {
                return false;
            }
            _retired = true;
            return true;
        }
    }

    /// <summary>Takes the waiting jobs <paramref name="match"/> selects out of the ready queue (operator bounce).</summary>
    public IReadOnlyList<DeliveryJob> Take(Func<DeliveryJob, bool> match)
    {
        lock (_lock)
        {
            if (!_ready.Any(match))
            {
                return [];
            }
            var taken = new List<DeliveryJob>();
            var kept = new List<DeliveryJob>(_ready.Count);
            while (_ready.TryDequeue(out var job))
            {
                (match(job) ? taken : kept).Add(job);
            }
            foreach (var job in kept)
            {
                _ready.Enqueue(job);
            }
            foreach (var _ in taken)
            {
                // One signal per job taken; a worker that already consumed one finds the queue shorter and waits again.
                _readySignal.Wait(0);
            }
            return taken;
        }
    }

    /// <summary>Queues a job; false when the site was retired (route it to a fresh site).</summary>
    public bool Enqueue(DeliveryJob job)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (_retired)
            {
                return false;
            }
            _lastUsed = now;
            if (_stopping.IsCancellationRequested)
            {
                job.Cancel();
                return true;
            }
            if (_suspended)
            {
                job.DeferAll($"delivery to {Name} is suspended by an operator", siteAnswered: true, BounceClass.Throttled, now + _options.SuspendedRetry);
                return true;
            }
            if (_backoffUntil > now)
            {
                DeferForBackoff(job);
                return true;
            }
            if (Adaptation.SuspendedUntil(now) is { } adaptiveUntil)
            {
                DeferForAdaptation(job, adaptiveUntil);
                return true;
            }
            if (_ready.Count >= _maxReady)
            {
                job.DeferAll($"too many messages waiting for {Name}; rescheduled", siteAnswered: true, BounceClass.Throttled, now + TimeSpan.FromMinutes(1));
                return true;
            }
            _ready.Enqueue(job);
            _readySignal.Release();
            if (_ready.Count > _idleWorkers && _connections < Adaptation.MaxConnections(Limits.MaxConnections, now))
            {
                _connections++;
                _ = Task.Run(RunConnectionAsync, CancellationToken.None);
            }
            return true;
        }
    }

    private void DeferForBackoff(DeliveryJob job) =>
        job.DeferAll($"{Name} is in back-off after: {_backoffCause?.Reason}", _backoffCause?.SiteAnswered ?? false,
            _backoffCause?.Reply is { } r ? ReplyClassifier.Classify(r).BounceClass : BounceClass.Connection, _backoffUntil);

    /// <summary>The recipient domain's MTA-STS or DANE policy refused every host: only that domain's mail waits (with
    /// the policy's enhanced status and reason); the site stays open for the other domains sharing its MX set.</summary>
    private static void DeferForPolicy(DeliveryJob job, ConnectFailure failure, PolicyRefusal refusal) =>
        job.DeferAll($"{refusal.EnhancedStatus} {failure.Reason}", failure.SiteAnswered,
            ReplyClassifier.Classify(new SmtpReply(451, refusal.EnhancedStatus, refusal.Reason)).BounceClass);

    /// <summary>One pooled connection's life: take ready jobs until idle, reconnecting after the per-connection limit.</summary>
    private async Task RunConnectionAsync()
    {
        SmtpClientConnection? connection = null;
        // The cluster's connection slot, held while this worker has a connection open (or is opening one).
        IAsyncDisposable? slot = null;
        SiteHost? host = null;
        string? connectedFor = null; // the domain whose transport policy the connection was opened under
        var delivered = 0;
        var lastUsed = _time.GetUtcNow();
        using var idle = new IdleDeadline(_time, _stopping);
        try
        {
            while (await NextJobAsync(idle).ConfigureAwait(false) is { } job)
            {
                try
                {
                    if (!await WaitForRateAsync(job).ConfigureAwait(false))
                    {
                        continue;
                    }
                    if (connection is not null && _time.GetUtcNow() - lastUsed > ProbeAfterIdle && !await ProbeAsync(connection).ConfigureAwait(false))
                    {
                        await CloseAsync(connection, slot).ConfigureAwait(false);
                        (connection, slot) = (null, null);
                    }
                    if (connection is not null && job.Domain != connectedFor && !await _connector.MayShareAsync(job.Domain, host!, Policy, _stopping).ConfigureAwait(false))
                    {
                        await CloseAsync(connection, slot).ConfigureAwait(false);
                        (connection, slot) = (null, null);
                    }
                    if (connection is null && _shared is not null && slot is null)
                    {
                        slot = await WaitForSlotAsync(job).ConfigureAwait(false);
                        if (slot is null)
                        {
                            continue;
                        }
                    }
                    if (connection is null)
                    {
                        ConnectFailure? failure;
                        connectedFor = job.Domain;
                        (connection, host, failure) = await _connector.ConnectAsync(job.Domain, job.Hosts, Policy, _stopping, Egress?.Source).ConfigureAwait(false);
                        if (connection is null)
                        {
                            await ReleaseAsync(slot).ConfigureAwait(false);
                            slot = null;
                            if (failure!.Refusal is { } policyRefusal)
                            {
                                DeferForPolicy(job, failure, policyRefusal);
                                continue;
                            }
                            if (failure.Reply is { } refused)
                            {
                                Egress?.Observer?.Observe(this, job, refused);
                            }
                            EnterBackoff(failure);
                            lock (_lock)
                            {
                                DeferForBackoff(job);
                            }
                            DrainForBackoff();
                            return;
                        }
                        _metrics.ConnectionOpened(Name);
                        ResetFailures();
                        delivered = 0;
                    }

                    var (outcomes, broken) = await DeliverAsync(connection, host!, job).ConfigureAwait(false);
                    job.Complete(outcomes);
                    lastUsed = _time.GetUtcNow();
                    delivered++;
                    if (broken is not null || delivered >= Limits.MaxDeliveriesPerConnection)
                    {
                        await CloseAsync(connection, slot).ConfigureAwait(false);
                        (connection, slot) = (null, null);
                    }
                    if (broken is { Reply.Code: 421 })
                    {
                        EnterBackoff(broken);
                        DrainForBackoff();
                        return;
                    }
                    if (Adaptation.SuspendedUntil(_time.GetUtcNow()) is not null)
                    {
                        // Adaptive shaping suspended the site on this reply: leave (what waited has been rescheduled).
                        if (connection is not null)
                        {
                            await CloseAsync(connection, slot).ConfigureAwait(false);
                            (connection, slot) = (null, null);
                        }
                        return;
                    }
                }
                catch (Exception e) when (!_stopping.IsCancellationRequested)
                {
                    // A failure nobody foresaw belongs to this job, not to the site: the job is retried, the connection
                    // (in an unknown state) is closed, and the worker goes on with the next job.
                    _logger.LogError(e, "Delivery to {Site} failed unexpectedly; the message will be retried", Name);
                    job.DeferAll($"internal error while delivering to {Name}: {e.Message}", siteAnswered: true, BounceClass.Other);
                    if (connection is not null)
                    {
                        await CloseAsync(connection, slot).ConfigureAwait(false);
                        (connection, slot) = (null, null);
                    }
                }
                catch when (_stopping.IsCancellationRequested)
                {
                    // Stopping: the message is handed back untouched.
                    job.Cancel();
                    throw;
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Connection worker for {Site} failed", Name);
        }
        finally
        {
            if (connection is not null)
            {
                await CloseAsync(connection, null).ConfigureAwait(false);
            }
            // Also a slot taken for a connection that was never opened (the worker stopped while connecting).
            await ReleaseAsync(slot).ConfigureAwait(false);
            var orphaned = new List<DeliveryJob>();
            lock (_lock)
            {
                _connections--;
                // Jobs nobody will take (we stop, or we were the last worker and failed): hand them back.
                if (_stopping.IsCancellationRequested || (_connections == 0 && _ready.Count > 0 && _backoffUntil > _time.GetUtcNow()))
                {
                    while (_ready.TryDequeue(out var left))
                    {
                        _readySignal.Wait(0);
                        orphaned.Add(left);
                    }
                }
                else if (_connections == 0 && _ready.Count > 0)
                {
                    _connections++;
                    _ = Task.Run(RunConnectionAsync, CancellationToken.None);
                }
            }
            foreach (var left in orphaned)
            {
                if (_stopping.IsCancellationRequested)
                {
                    left.Cancel();
                }
                else
                {
                    lock (_lock)
                    {
                        DeferForBackoff(left);
                    }
                }
            }
        }
    }

    /// <summary>The next ready job, or null once the connection has been idle for the idle timeout.</summary>
    private async Task<DeliveryJob?> NextJobAsync(IdleDeadline idle)
    {
        // A signal whose job a back-off drain already took finds the queue empty: wait again (bounded).
        for (var round = 0; round < 10_000; round++)
        {
            if (!_readySignal.Wait(0) && !await WaitForSignalAsync(idle).ConfigureAwait(false))
            {
                return null;
            }
            lock (_lock)
            {
                if (_ready.TryDequeue(out var job))
                {
                    return job;
                }
            }
        }
        return null;
    }

    private async Task<bool> WaitForSignalAsync(IdleDeadline idle)
    {
        lock (_lock)
        {
            _idleWorkers++;
        }
        var counted = true;
        try
        {
            await _readySignal.WaitAsync(idle.Arm(_options.IdleTimeout)).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
        {
            // Idle: leave, unless a job arrived just as the timer fired (then its Enqueue counted on us).
            lock (_lock)
            {
                _idleWorkers--;
                counted = false;
                return _readySignal.Wait(0);
            }
        }
        finally
        {
            if (counted)
            {
                lock (_lock)
                {
                    _idleWorkers--;
                }
            }
        }
    }

    /// <summary>Waits for the site's rate limits; false when the wait would be long and the job was rescheduled.</summary>
    private async Task<bool> WaitForRateAsync(DeliveryJob job)
    {
        for (var round = 0; round < 1000; round++)
        {
            TimeSpan wait;
            var now = _time.GetUtcNow();
            wait = Adaptation.TryAcquire(now);
            if (wait <= TimeSpan.Zero)
            {
                lock (_lock)
                {
                    // With a shared rate, this process's own windows are only looked at first: a delivery the cluster
                    // refuses must not count here.
                    wait = _shared is null ? _rate.TryAcquire(now) : _rate.WaitAt(now);
                }
            }
            if (wait <= TimeSpan.Zero && _shared is not null)
            {
                wait = await _shared.TakeDeliveryAsync(ReadyCount + 1, _stopping).ConfigureAwait(false);
                if (wait <= TimeSpan.Zero)
                {
                    lock (_lock)
                    {
                        // A sibling worker may have taken the last local slot meanwhile: then the cluster's token is
                        // wasted (never a delivery beyond either limit) and this one waits.
                        wait = _rate.TryAcquire(_time.GetUtcNow());
                    }
                }
            }
            if (wait <= TimeSpan.Zero)
            {
                return true;
            }
            if (wait > _options.MaxRateWait)
            {
                job.DeferAll($"rate limit of {Name} reached; rescheduled", siteAnswered: true, BounceClass.Throttled, now + wait);
                return false;
            }
            await Task.Delay(wait, _time, _stopping).ConfigureAwait(false);
        }
        job.DeferAll($"rate limit of {Name} reached; rescheduled", siteAnswered: true, BounceClass.Throttled);
        return false;
    }

    private async Task<bool> ProbeAsync(SmtpClientConnection connection)
    {
        try
        {
            await connection.ResetAsync(_stopping).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is SmtpClientException or SocketException or IOException or TimeoutException)
        {
            return false;
        }
    }

    /// <summary>One transaction; a connection broken mid-way defers its recipients (or bounces them on 5xx).</summary>
    private async Task<(IReadOnlyList<RecipientOutcome> Outcomes, ConnectFailure? Broken)> DeliverAsync(
        SmtpClientConnection connection, SiteHost host, DeliveryJob job)
    {
        try
        {
            var result = await connection.SendAsync(job.ReversePath, job.Recipients, job.Message, job.Request, _stopping).ConfigureAwait(false);
            if (Egress?.Observer is { } observer)
            {
                foreach (var refused in AdaptiveShaping.Refusals(result))
                {
                    observer.Observe(this, job, refused);
                }
            }
            return (TransactionReplies.Interpret(result, host), null);
        }
        catch (SmtpAddressException e)
        {
            return (Unwritable(job, e), null);
        }
        catch (Exception e) when (e is SmtpClientException or SocketException or IOException or TimeoutException)
        {
            return BrokenOff(host, job, e);
        }
    }

    // The failures are handled outside DeliverAsync: their lambdas would otherwise make it allocate a closure for
    // every transaction, failed or not.

    /// <summary>Nothing was sent and the connection is fine: the address that cannot be written bounces (all of them when
    /// it is the return path), the others are retried without it.</summary>
    private static IReadOnlyList<RecipientOutcome> Unwritable(DeliveryJob job, SmtpAddressException e)
    {
        var bounceAll = e.Address == job.ReversePath;
        return job.Recipients.Select(r => bounceAll || r == e.Address
            ? new RecipientOutcome.Bounced(r, "hard", e.Message, null, BounceClass.InvalidRecipient)
            : (RecipientOutcome)new RecipientOutcome.Deferred(r, $"another recipient's address could not be written: {e.Problem}", false)).ToArray();
    }

    /// <summary>The connection broke or the site refused the transaction: 5xx bounces every recipient, anything else defers them.</summary>
    private (IReadOnlyList<RecipientOutcome> Outcomes, ConnectFailure? Broken) BrokenOff(SiteHost host, DeliveryJob job, Exception e)
    {
        _logger.LogInformation("Delivery to {Host} [{EndPoint}] broke off: {Error}", host.Name, host.EndPoint, e.Message);
        var reply = (e as SmtpClientException)?.Reply;
        if (reply is { } refused)
        {
            Egress?.Observer?.Observe(this, job, refused);
        }
        var reason = TransactionReplies.Describe(host, reply) ?? $"{host.Name}[{host.EndPoint.Address}]:{host.EndPoint.Port}: {e.Message}";
        IReadOnlyList<RecipientOutcome> outcomes = reply is { IsPermanentFailure: true } permanent
            ? job.Recipients.Select(r => TransactionReplies.Bounce(r, permanent, host, command: null)).ToArray()
            : job.Recipients.Select(r => (RecipientOutcome)new RecipientOutcome.Deferred(r, reason, reply is not null,
                reply is { } x ? ReplyClassifier.Classify(x).BounceClass : BounceClass.Connection)).ToArray();
        return (outcomes, new ConnectFailure(reason, reply is not null, reply));
    }

    private void EnterBackoff(ConnectFailure failure)
    {
        lock (_lock)
        {
            _failures = Math.Min(_failures + 1, 20);
            var delay = TimeSpan.FromTicks(Math.Min(_options.SiteBackoff.Ticks * (1L << Math.Min(_failures - 1, 10)), _options.MaxSiteBackoff.Ticks));
            _backoffUntil = _time.GetUtcNow() + delay;
            _backoffCause = failure;
        }
        _logger.LogWarning("Site {Site} in back-off for {Delay}: {Reason}", Name, _backoffUntil - _time.GetUtcNow(), failure.Reason);
    }

    private void ResetFailures()
    {
        lock (_lock)
        {
            _failures = 0;
        }
    }

    /// <summary>Everything waiting for a site in back-off is rescheduled at once: holding it would only age its leases.</summary>
    private void DrainForBackoff()
    {
        lock (_lock)
        {
            while (_ready.TryDequeue(out var job))
            {
                _readySignal.Wait(0);
                DeferForBackoff(job);
            }
        }
    }

    /// <summary>Closes a connection, then gives its cluster slot back (after QUIT: the peer has seen it go).</summary>
    private async Task CloseAsync(SmtpClientConnection connection, IAsyncDisposable? slot)
    {
        _metrics.ConnectionClosed(Name);
        using (var quit = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await connection.QuitAsync(quit.Token).ConfigureAwait(false);
            await connection.DisposeAsync().ConfigureAwait(false);
        }
        await ReleaseAsync(slot).ConfigureAwait(false);
    }

    private static async ValueTask ReleaseAsync(IAsyncDisposable? slot)
    {
        if (slot is not null)
        {
            await slot.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Waits for one of the cluster's connection slots of the site; null when the wait grew long and the job was
    /// rescheduled. Slots free up as other processes close connections, or when a dead process's leases lapse.</summary>
    private async Task<IAsyncDisposable?> WaitForSlotAsync(DeliveryJob job)
    {
        var started = _time.GetUtcNow();
        var pause = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            var now = _time.GetUtcNow();
            if (await _shared!.TryOpenConnectionAsync(Adaptation.MaxConnections(Limits.MaxConnections, now), _stopping).ConfigureAwait(false) is { } slot)
            {
                return slot;
            }
            if (now - started >= _options.MaxRateWait)
            {
                job.DeferAll($"connection limit of {Name} reached across the sender cluster; rescheduled", siteAnswered: true, BounceClass.Throttled, now + pause);
                return null;
            }
            await Task.Delay(pause, _time, _stopping).ConfigureAwait(false);
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.TicksPerSecond));
        }
    }
}
