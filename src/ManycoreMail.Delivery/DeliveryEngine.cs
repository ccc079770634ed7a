using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using ManycoreMail.Classification;
using ManycoreMail.Dns;
using ManycoreMail.Smtp.Client;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Delivery;

/// <summary>What an operator sees of a site.</summary>
internal sealed record SiteSnapshot(string Name, int Ready, int Connections, bool Suspended, DateTimeOffset? BackoffUntil, SiteLimits Limits);

/// <summary>
/// Routes each (message, domain) to its site (the MX host set, or a smarthost) and hands it to that site's ready
/// queue and connection pool. Sites live in memory: after a restart they are rebuilt as the durable outbound queue
/// is leased again.
/// </summary>
internal sealed class DeliveryEngine : IDisposable
{
    private readonly DeliveryOptions _options;
    private readonly int _smtpPort;
    private readonly MailRouter _router;
    private readonly TrafficShaping _shaping;
    private readonly SiteConnector _connector;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly PoolSelection _pools;
    private readonly AdaptiveShaping _adaptive;
    private readonly IEgressMetrics? _egressMetrics;
    private readonly ISiteLimitCoordinator _sharedLimits;
    private readonly ConcurrentDictionary<string, DeliverySite> _sites = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, int> _scheduled = new(StringComparer.OrdinalIgnoreCase);
    private readonly CancellationTokenSource _stopping = new();
    /// <summary>Scheduled queue patterns an operator suspended.</summary>
    private readonly ConcurrentDictionary<string, bool> _suspendedQueues = new(StringComparer.OrdinalIgnoreCase);
    /// <summary>Scheduled queue patterns an operator bounced, until when messages still waiting for them are bounced.</summary>
    private readonly ConcurrentDictionary<string, DateTimeOffset> _bouncedQueues = new(StringComparer.OrdinalIgnoreCase);
    /// <summary>Sites an operator suspended, by name: kept here so that a site made later (here, or after a restart or
    /// an eviction) starts suspended.</summary>
    private readonly ConcurrentDictionary<string, bool> _suspendedSites = new(StringComparer.OrdinalIgnoreCase);
    /// <summary>Adaptive actions by site name as last loaded from the operations store, applied to sites made later.</summary>
    private IReadOnlyDictionary<string, OperationEntry[]> _storedAdaptations = new Dictionary<string, OperationEntry[]>();
    private Action<OperationChange> _publish = _ => { };
    private long _nextEvictionTicks;

    /// <param name="smtpPort">The port of MX hosts (25; another only in tests).</param>
    /// <param name="egress">Where warm-up counts persist and egress metrics go; null: in memory, none.</param>
    /// <param name="sharedLimits">Where sites' limits are shared with other sender processes; null: this process is alone.</param>
    public DeliveryEngine(DeliveryOptions options, string heloName, int smtpPort, MailRouter router, IDeliveryMetrics metrics, TimeProvider time, ILogger<DeliveryEngine> logger,
        EgressServices? egress = null, TransportSecurity.TransportSecurityGate? transportSecurity = null, ISiteLimitCoordinator? sharedLimits = null)
    {
        _options = options;
        _smtpPort = smtpPort;
        _router = router;
        Metrics = metrics;
        _time = time;
        _logger = logger;
        _shaping = new TrafficShaping(options.DefaultLimits, options.ShapingRules);
        _connector = new SiteConnector(heloName, options, new TlsMemory(options.BrokenTlsMemory, time), logger, transportSecurity);
        _pools = new PoolSelection(options.Egress ?? EgressOptions.Implicit(options.SourceAddress, heloName),
            new WarmUpLedger(egress?.WarmUpStore ?? new InMemoryWarmUpStore(), time, egress?.SharedWarmUp), time);
        _egressMetrics = egress?.Metrics;
        _sharedLimits = sharedLimits ?? ProcessSiteLimits.Instance;
        _adaptive = new AdaptiveShaping(options.AdaptiveRules, _pools, BounceQueue, _egressMetrics, time, logger, change => _publish(change));
    }

    /// <summary>The egress pools, their sources' suspensions and warm-up counts.</summary>
    public PoolSelection Pools => _pools;

    public IDeliveryMetrics Metrics { get; }

    public IEnumerable<DeliverySite> Sites => _sites.Values;

    /// <summary>Jobs of each scheduled queue now in memory (in a ready queue or on the wire).</summary>
    public IEnumerable<KeyValuePair<string, int>> ScheduledCounts => _scheduled.Where(q => q.Value > 0);

    public DeliverySite? FindSite(string name) => _sites.Values.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));

    public IReadOnlyList<SiteSnapshot> Snapshot() =>
        _sites.Values.Select(s => new SiteSnapshot(s.Name, s.ReadyCount, s.ConnectionCount, s.IsSuspended, s.BackoffUntil, s.Limits))
            .OrderBy(s => s.Name, StringComparer.Ordinal).ToArray();

    public IReadOnlyCollection<string> SuspendedQueues => _suspendedQueues.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>Bounce directives still standing (pattern, until).</summary>
    public IReadOnlyList<KeyValuePair<string, DateTimeOffset>> BouncedQueues
    {
        get
        {
            var now = _time.GetUtcNow();
            return _bouncedQueues.Where(b => b.Value > now).OrderBy(b => b.Key, StringComparer.Ordinal).ToArray();
        }
    }

    /// <summary>Holds every scheduled queue matching <paramref name="pattern"/> (exact, or a prefix ending in '*'):
    /// its messages are rescheduled without counting an attempt until <see cref="ResumeQueue"/>.</summary>
    public void SuspendQueue(string pattern)
    {
        _suspendedQueues[pattern] = true;
        _publish(new OperationChange(new OperationEntry(OperationKind.QueueSuspended, pattern, null)));
    }

    public bool ResumeQueue(string pattern)
    {
        _publish(new OperationChange(new OperationEntry(OperationKind.QueueSuspended, pattern, null), Removed: true));
        return _suspendedQueues.TryRemove(pattern, out _);
    }

    /// <summary>Sends every operations change (operator and adaptive) to <paramref name="publish"/>, which persists it and
    /// tells the other processes; set once at start, before deliveries.</summary>
    public void Journal(Action<OperationChange> publish) => _publish = publish;

    /// <summary>Suspends or resumes the site named <paramref name="name"/>, here and (through the journal) in every process
    /// sharing the operations store; false when no such site is known here.</summary>
    public bool SuspendSite(string name, bool suspend)
    {
        var site = FindSite(name);
        if (site is null && !(!suspend && _suspendedSites.ContainsKey(name)))
        {
            return false;
        }
        var key = site?.Name ?? name;
        if (suspend)
        {
            _suspendedSites[key] = true;
        }
        else
        {
            _suspendedSites.TryRemove(key, out _);
        }
        site?.Suspend(suspend);
        _publish(new OperationChange(new OperationEntry(OperationKind.SiteSuspended, key, null), Removed: !suspend));
        return true;
    }

    /// <summary>Lifts adaptive shaping's suspension and throttle of a site (<c>mailer site resume</c>); false when none stood.</summary>
    public bool ClearAdaptation(DeliverySite site)
    {
        _publish(new OperationChange(new OperationEntry(OperationKind.SiteAdaptiveSuspended, site.Name, null), Removed: true));
        _publish(new OperationChange(new OperationEntry(OperationKind.SiteThrottled, site.Name, null), Removed: true));
        return site.ClearAdaptation();
    }

    /// <summary>Lifts adaptive shaping's suspension of a source; false when none stood.</summary>
    public bool ResumeSource(string source)
    {
        _publish(new OperationChange(new OperationEntry(OperationKind.SourceSuspended, source, null), Removed: true));
        return _pools.Resume(source);
    }

    /// <summary>Makes the operations state what <paramref name="entries"/> (the store's, standing now) say: what another
    /// process changed takes effect here, and what was lifted there is lifted here.</summary>
    public void ApplyOperations(IReadOnlyList<OperationEntry> entries)
    {
        var now = _time.GetUtcNow();
        var standing = entries.Where(e => e.Stands(now)).ToArray();
        Replace(_suspendedSites, standing.Where(e => e.Kind == OperationKind.SiteSuspended).ToDictionary(e => e.Target, _ => true, StringComparer.OrdinalIgnoreCase));
        Replace(_suspendedQueues, standing.Where(e => e.Kind == OperationKind.QueueSuspended).ToDictionary(e => e.Target, _ => true, StringComparer.OrdinalIgnoreCase));
        Replace(_bouncedQueues, standing.Where(e => e.Kind == OperationKind.QueueBounced)
            .ToDictionary(e => e.Target, e => e.Until ?? DateTimeOffset.MaxValue, StringComparer.OrdinalIgnoreCase));
        var sources = standing.Where(e => e.Kind == OperationKind.SourceSuspended).ToDictionary(e => e.Target, e => e.Until ?? DateTimeOffset.MaxValue, StringComparer.OrdinalIgnoreCase);
        foreach (var (source, _) in _pools.SuspendedSources.Where(s => !sources.ContainsKey(s.Key)))
        {
            _pools.Resume(source);
        }
        foreach (var (source, until) in sources)
        {
            _pools.Suspend(source, until);
        }
        _storedAdaptations = standing.Where(e => e.Kind is OperationKind.SiteAdaptiveSuspended or OperationKind.SiteThrottled)
            .GroupBy(e => e.Target, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.OrdinalIgnoreCase);
        foreach (var site in _sites.Values)
        {
            ApplyStored(site);
        }
    }

    /// <summary>Brings one site to the stored state: its operator suspension and its adaptive actions.</summary>
    private void ApplyStored(DeliverySite site)
    {
        var suspended = _suspendedSites.ContainsKey(site.Name);
        if (site.IsSuspended != suspended)
        {
            site.Suspend(suspended);
        }
        var now = _time.GetUtcNow();
        var wanted = _storedAdaptations.GetValueOrDefault(site.Name) ?? [];
        var views = wanted.Select(e => e.AsAdaptation()).ToArray();
        var active = site.Adaptation.Active(now);
        // The store keeps times to the millisecond: compare at that grain, or a site's own action would be redone on
        // every poll (and a throttle's rate limiter reset with it).
        static (string, string, long) Key(AdaptationView v) => (v.Rule, v.Action, v.Until.ToUnixTimeMilliseconds());
        if (views.Length == active.Count && views.Select(Key).ToHashSet().SetEquals(active.Select(Key)))
        {
            return;
        }
        site.Adaptation.Clear(now);
        foreach (var (entry, view) in wanted.Zip(views))
        {
            if (entry.Kind == OperationKind.SiteAdaptiveSuspended)
            {
                site.SuspendFor(view);
            }
            else if (_options.AdaptiveRules.FirstOrDefault(r => r.Name == view.Rule) is { } rule)
            {
                site.Adaptation.Throttle(view, rule.Limits ?? SiteLimits.Default);
            }
        }
    }

    private static void Replace<T>(ConcurrentDictionary<string, T> current, Dictionary<string, T> wanted)
    {
        foreach (var key in current.Keys.Where(k => !wanted.ContainsKey(k)))
        {
            current.TryRemove(key, out _);
        }
        foreach (var (key, value) in wanted)
        {
            current[key] = value;
        }
    }

    public bool IsQueueSuspended(string queue)
    {
        // Asked for every delivery: no snapshot of the keys, and no enumerator at all while nothing is suspended.
        if (_suspendedQueues.IsEmpty)
        {
            return false;
        }
        foreach (var (pattern, _) in _suspendedQueues)
        {
            if (ScheduledQueueName.Matches(pattern, queue))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Bounces every recipient of the matching scheduled queues: those waiting in a ready queue now, and those
    /// waiting in the durable queue when they next fall due (the directive stands for <paramref name="standFor"/>, the
    /// longest queue lifetime, after which none of them can be left). Returns how many were bounced now.</summary>
    public int BounceQueue(string pattern, TimeSpan standFor)
    {
        var until = _time.GetUtcNow() + standFor;
        _bouncedQueues[pattern] = until;
        _publish(new OperationChange(new OperationEntry(OperationKind.QueueBounced, pattern, until)));
        var bounced = 0;
        foreach (var site in _sites.Values)
        {
            foreach (var job in site.Take(j => ScheduledQueueName.Matches(pattern, j.Queue)))
            {
                job.Complete(job.Recipients.Select(r => (RecipientOutcome)OperatorBounce(r, job.Queue)).ToArray());
                bounced += job.Recipients.Count;
            }
        }
        return bounced;
    }

    /// <summary>Withdraws a bounce directive (messages not yet bounced are delivered again).</summary>
    public bool CancelBounce(string pattern)
    {
        _publish(new OperationChange(new OperationEntry(OperationKind.QueueBounced, pattern, null), Removed: true));
        return _bouncedQueues.TryRemove(pattern, out _);
    }

    private bool IsQueueBounced(string queue)
    {
        if (_bouncedQueues.IsEmpty)
        {
            return false;
        }
        var now = _time.GetUtcNow();
        foreach (var (pattern, until) in _bouncedQueues)
        {
            if (until <= now)
            {
                _bouncedQueues.TryRemove(pattern, out _);
            }
            else if (ScheduledQueueName.Matches(pattern, queue))
            {
                return true;
            }
        }
        return false;
    }

    private static RecipientOutcome.Bounced OperatorBounce(string recipient, string queue) =>
        new(recipient, "soft", $"bounced by an operator (queue {queue})", null, BounceClass.Operator);

    /// <summary>Lifts the back-off of one site (or of every site): the next message for it is tried at once.
    /// Returns the sites lifted.</summary>
    public int RetryNow(string? siteName)
    {
        var lifted = 0;
        foreach (var site in _sites.Values)
        {
            if (siteName is null || string.Equals(site.Name, siteName, StringComparison.OrdinalIgnoreCase))
            {
                site.ClearBackoff();
                lifted++;
            }
        }
        return lifted;
    }

    /// <summary>Delivers one message to the recipients of one domain and returns what became of each.</summary>
    public async Task<IReadOnlyList<RecipientOutcome>> DeliverAsync(string queue, string domain, IReadOnlyList<string> recipients,
        string reversePath, ReadOnlyMemory<byte> message, CancellationToken cancellationToken, SmtpDeliveryRequest? request = null)
    {
        var refused = UnwritableAddresses.Bounces(reversePath, recipients);
        if (refused.Count == 0)
        {
            return await DeliverWritableAsync(queue, domain, recipients, reversePath, message, request ?? SmtpDeliveryRequest.None, cancellationToken).ConfigureAwait(false);
        }
        _logger.LogWarning("{Count} recipient(s) bounced without a connection: {Reason}", refused.Count, refused[0].Reason);
        Metrics.Record(domain, refused);
        var bounced = refused.Select(b => b.Recipient).ToHashSet(StringComparer.Ordinal);
        var writable = recipients.Where(r => !bounced.Contains(r)).ToArray();
        if (writable.Length == 0)
        {
            return refused;
        }
        var outcomes = await DeliverWritableAsync(queue, domain, writable, reversePath, message, request ?? SmtpDeliveryRequest.None, cancellationToken).ConfigureAwait(false);
        return [.. refused, .. outcomes];
    }

    private async Task<IReadOnlyList<RecipientOutcome>> DeliverWritableAsync(string queue, string domain, IReadOnlyList<string> recipients,
        string reversePath, ReadOnlyMemory<byte> message, SmtpDeliveryRequest request, CancellationToken cancellationToken)
    {
        if (IsQueueBounced(queue))
        {
            var bounced = recipients.Select(r => (RecipientOutcome)OperatorBounce(r, queue)).ToArray();
            Metrics.Record(domain, bounced);
            return bounced;
        }
        if (IsQueueSuspended(queue))
        {
            var until = _time.GetUtcNow() + _options.SuspendedRetry;
            return recipients.Select(r => (RecipientOutcome)new RecipientOutcome.Deferred(r, $"queue {queue} is suspended by an operator",
                true, BounceClass.Throttled, until)).ToArray();
        }
        EvictIdleSites();
        // One source per (message, domain), chosen once the provider is known and kept if the job is routed again.
        SourceChoice? chosen = null;
        async ValueTask<SourceChoice> Choose(string provider) => chosen ??= await ChooseSourceAsync(queue, reversePath, provider, recipients.Count, cancellationToken).ConfigureAwait(false);
        var (site, hosts, final) = await RouteAsync(domain, recipients, Choose, cancellationToken).ConfigureAwait(false);
        if (final is not null)
        {
            foreach (var outcome in final)
            {
                if (outcome is RecipientOutcome.Bounced b)
                {
                    Metrics.Bounced(domain, b.Type, b.Class);
                }
            }
            return final;
        }

        var batch = site!.Limits.MaxRecipientsPerMessage is { } max && max > 0 ? max : recipients.Count;
        var jobs = Jobs(queue, domain, recipients, batch, reversePath, message, hosts!, request);
        _scheduled.AddOrUpdate(queue, static (_, count) => count, static (_, n, count) => n + count, jobs.Length);
        try
        {
            foreach (var job in jobs)
            {
                site = await PlaceAsync(site, job, recipients, Choose, cancellationToken).ConfigureAwait(false);
            }
            IReadOnlyList<RecipientOutcome> outcomes;
            if (jobs.Length == 1)
            {
                // The usual case, one transaction for the domain's recipients: its outcomes as they are.
                outcomes = await jobs[0].Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var completions = new Task<IReadOnlyList<RecipientOutcome>>[jobs.Length];
                for (var i = 0; i < jobs.Length; i++)
                {
                    completions[i] = jobs[i].Completion;
                }
                outcomes = (await Task.WhenAll(completions).WaitAsync(cancellationToken).ConfigureAwait(false)).SelectMany(r => r).ToArray();
            }
            Metrics.Record(site.Name, outcomes);
            return outcomes;
        }
        finally
        {
            _scheduled.AddOrUpdate(queue, static (_, _) => 0, static (_, n, count) => Math.Max(0, n - count), jobs.Length);
        }
    }

    /// <summary>One job per <paramref name="batch"/> recipients (the site's recipients per transaction), in their order.</summary>
    private static DeliveryJob[] Jobs(string queue, string domain, IReadOnlyList<string> recipients, int batch, string reversePath,
        ReadOnlyMemory<byte> message, IReadOnlyList<SiteHost> hosts, SmtpDeliveryRequest request)
    {
        if (recipients.Count <= batch)
        {
            return [new DeliveryJob(queue, domain, recipients, reversePath, message, hosts) { Request = request }];
        }
        var jobs = new DeliveryJob[(recipients.Count + batch - 1) / batch];
        for (var i = 0; i < jobs.Length; i++)
        {
            var chunk = new string[Math.Min(batch, recipients.Count - i * batch)];
            for (var j = 0; j < chunk.Length; j++)
            {
                chunk[j] = recipients[i * batch + j];
            }
            jobs[i] = new DeliveryJob(queue, domain, chunk, reversePath, message, hosts) { Request = request };
        }
        return jobs;
    }

    /// <summary>Queues a job on its site; a site the idle sweep retired between routing and now is routed again
    /// (a fresh site, same limits).</summary>
    private async Task<DeliverySite> PlaceAsync(DeliverySite site, DeliveryJob job, IReadOnlyList<string> recipients, Func<string, ValueTask<SourceChoice>> choose,
        CancellationToken cancellationToken)
    {
        for (var round = 0; round < 10; round++)
        {
            if (site.Enqueue(job))
            {
                return site;
            }
            var (fresh, _, _) = await RouteAsync(job.Domain, recipients, choose, cancellationToken).ConfigureAwait(false);
            if (fresh is null)
            {
                break;
            }
            site = fresh;
        }
        job.DeferAll("the route changed while queuing; rescheduled", siteAnswered: false, BounceClass.Connection);
        return site;
    }

    // RouteAsync runs for every delivery: what only some routes need (a relay, a failed lookup, a new site) is in
    // methods of its own, so that their closures are not allocated on every call.
    private async Task<(DeliverySite? Site, IReadOnlyList<SiteHost>? Hosts, IReadOnlyList<RecipientOutcome>? Final)> RouteAsync(
        string domain, IReadOnlyList<string> recipients, Func<string, ValueTask<SourceChoice>> choose, CancellationToken cancellationToken)
    {
        if (RelayFor(domain) is { } relay)
        {
            return await RouteToRelayAsync(relay, domain, recipients, choose, cancellationToken).ConfigureAwait(false);
        }

        var route = await _router.ResolveAsync(domain, cancellationToken).ConfigureAwait(false);
        if (route.Status != MailRouteStatus.Ok)
        {
            return (null, null, Unroutable(route, domain, recipients));
        }

        var hosts = new List<SiteHost>(route.Hosts.Count);
        foreach (var host in route.Hosts)
        {
            foreach (var address in host.Addresses)
            {
                hosts.Add(new SiteHost(host.Name, new IPEndPoint(address, _smtpPort)));
            }
        }
        var names = SiteNames(route.Hosts);
        var provider = EgressProviders.Of(_options.ShapingRules, domain, names);
        var choice = await choose(provider).ConfigureAwait(false);
        if (choice.Source is not { } source)
        {
            return (null, null, WaitForSource(recipients, choice));
        }
        var tlsRequired = IsTlsRequired(domain);
        var siteName = string.Concat(string.Join(",", names), source.Name.Length > 0 ? "@" + source.Name : "", tlsRequired ? "(tls)" : "");
        var site = _sites.TryGetValue(siteName, out var known) ? known : AddMxSite(siteName, domain, names, tlsRequired, source, provider);
        return (site, hosts, null);
    }

    private DeliverySite AddMxSite(string siteName, string domain, string[] names, bool tlsRequired, EgressSource source, string provider) =>
        _sites.GetOrAdd(siteName, name => NewSite(name, _shaping.LimitsFor(domain, names),
            new SitePolicy(tlsRequired ? SmtpTlsMode.Required : SmtpTlsMode.Opportunistic), new SiteEgress(source, provider, names, _adaptive)));

    private async Task<(DeliverySite? Site, IReadOnlyList<SiteHost>? Hosts, IReadOnlyList<RecipientOutcome>? Final)> RouteToRelayAsync(
        RelayRoute relay, string domain, IReadOnlyList<string> recipients, Func<string, ValueTask<SourceChoice>> choose, CancellationToken cancellationToken)
    {
        var relayHosts = await relay.ResolveAsync(cancellationToken).ConfigureAwait(false);
        if (relayHosts.Count == 0)
        {
            return (null, null, All(recipients, r => new RecipientOutcome.Deferred(r, $"relay host {relay.Host} has no address", false, BounceClass.Connection)));
        }
        var relayChoice = await choose(EgressProviders.Of(_options.ShapingRules, domain, [relay.Host])).ConfigureAwait(false);
        if (relayChoice.Source is not { } relaySource)
        {
            return (null, null, WaitForSource(recipients, relayChoice));
        }
        // Relay sites of the implicit pool keep their names of before pools.
        var relayName = $"relay:{relay.Host}:{relay.Port}" + (_pools.Options.IsImplicit ? "" : "@" + relaySource.Name);
        var relaySite = _sites.GetOrAdd(relayName, name => NewSite(name, _shaping.LimitsFor(domain, [relay.Host]),
            new SitePolicy(relay.Tls, relay.CreateConnector()), new SiteEgress(relaySource, EgressProviders.Of(_options.ShapingRules, domain, [relay.Host]), [relay.Host], _adaptive)));
        return (relaySite, relayHosts, null);
    }

    /// <summary>What a route other than Ok means for every recipient: Null MX and no such domain bounce, a DNS failure defers.</summary>
    private static IReadOnlyList<RecipientOutcome> Unroutable(MailRoute route, string domain, IReadOnlyList<string> recipients) => route.Status switch
    {
        MailRouteStatus.NullMx => All(recipients, r => new RecipientOutcome.Bounced(r, "unroutable", route.Detail ?? $"{domain} does not accept mail (null MX)", null, BounceClass.BadDomain, "notaccept")),
        MailRouteStatus.NoSuchDomain => All(recipients, r => new RecipientOutcome.Bounced(r, "unroutable", route.Detail ?? $"Host or domain name not found: {domain}", null, BounceClass.BadDomain, BounceReasons.HostUnknown)),
        MailRouteStatus.TemporaryFailure => All(recipients, r => new RecipientOutcome.Deferred(r, route.Detail ?? $"DNS lookup for {domain} failed temporarily", false, BounceClass.BadDomain)),
        _ => throw new ArgumentOutOfRangeException(nameof(route), route.Status, "not a failed route"),
    };

    /// <summary>The route's host names, each once (ignoring case), sorted: the name of their site whatever order DNS gave.</summary>
    private static string[] SiteNames(IReadOnlyList<MailHost> hosts)
    {
        var names = new string[hosts.Count];
        var count = 0;
        for (var i = 0; i < hosts.Count; i++)
        {
            var name = hosts[i].Name;
            var seen = false;
            for (var j = 0; j < count && !seen; j++)
            {
                seen = string.Equals(names[j], name, StringComparison.OrdinalIgnoreCase);
            }
            if (!seen)
            {
                names[count++] = name;
            }
        }
        Array.Sort(names, 0, count, StringComparer.OrdinalIgnoreCase);
        return count == names.Length ? names : names[..count];
    }

    /// <summary>Forgets sites that have held nothing for a while, so that a sender touching millions of domains does
    /// not keep a pool for each. Runs at most once a minute, on the delivery path.</summary>
    private void EvictIdleSites()
    {
        var now = _time.GetUtcNow().UtcTicks;
        var next = Interlocked.Read(ref _nextEvictionTicks);
        if (now < next || Interlocked.CompareExchange(ref _nextEvictionTicks, now + TimeSpan.TicksPerMinute, next) != next)
        {
            return;
        }
        EvictIdleSitesNow();
    }

    /// <summary>The sweep itself; returns how many sites were forgotten.</summary>
    public int EvictIdleSitesNow()
    {
        var evicted = 0;
        foreach (var (name, site) in _sites)
        {
            if (site.TryRetire(_options.SiteIdleEviction) && _sites.TryRemove(new KeyValuePair<string, DeliverySite>(name, site)))
            {
                evicted++;
            }
        }
        return evicted;
    }

    private DeliverySite NewSite(string name, SiteLimits limits, SitePolicy policy, SiteEgress egress)
    {
        _logger.LogDebug("New site {Site}: {Limits}", name, limits);
        var site = new DeliverySite(name, limits, policy, _connector, _options, Metrics, _time, _logger, _stopping.Token, egress, _sharedLimits.Join(name, limits));
        ApplyStored(site);
        return site;
    }

    private async ValueTask<SourceChoice> ChooseSourceAsync(string queue, string reversePath, string provider, int recipients, CancellationToken cancellationToken)
    {
        var choice = await _pools.ChooseAsync(_pools.PoolFor(queue, reversePath), provider, recipients, cancellationToken).ConfigureAwait(false);
        if (choice.Source is { } source)
        {
            _egressMetrics?.SourceChosen(choice.Pool.Name, source.Name);
        }
        return choice;
    }

    /// <summary>No source may send now: the recipients wait for one, which is not an attempt (it has a time).</summary>
    private static IReadOnlyList<RecipientOutcome> WaitForSource(IReadOnlyList<string> recipients, SourceChoice choice) =>
        All(recipients, r => new RecipientOutcome.Deferred(r, choice.Reason!, SiteAnswered: true, BounceClass.Throttled, choice.WaitUntil));

    // Both are asked for every delivery: indexed loops, so that neither an enumerator nor a closure is allocated.
    private RelayRoute? RelayFor(string domain)
    {
        var relays = _options.DomainRelays;
        for (var i = 0; i < relays.Count; i++)
        {
            if (MatchesDomain(relays[i].Key, domain))
            {
                return relays[i].Value;
            }
        }
        return _options.Relay;
    }

    private bool IsTlsRequired(string domain)
    {
        var required = _options.TlsRequiredDomains;
        for (var i = 0; i < required.Count; i++)
        {
            if (MatchesDomain(required[i], domain))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>A domain pattern: the domain itself, or ".example.net" for every domain under it.</summary>
    private static bool MatchesDomain(string pattern, string domain) =>
        string.Equals(pattern, domain, StringComparison.OrdinalIgnoreCase)
        || (pattern.StartsWith('.') && domain.EndsWith(pattern, StringComparison.OrdinalIgnoreCase));

    private static IReadOnlyList<RecipientOutcome> All(IReadOnlyList<string> recipients, Func<string, RecipientOutcome> outcome) =>
        recipients.Select(outcome).ToArray();

    /// <summary>Stops every connection; jobs still waiting are cancelled (their messages are handed back).</summary>
    public void Stop() => _stopping.Cancel();

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }
}
