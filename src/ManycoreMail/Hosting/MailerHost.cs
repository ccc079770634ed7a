using ManycoreMail.AutoSuppression;
using ManycoreMail.Compose;
using ManycoreMail.Config;
using ManycoreMail.Delivery;
using ManycoreMail.Dns;
using ManycoreMail.Events;
using ManycoreMail.EventStore;
using ManycoreMail.Idempotency;
using ManycoreMail.Ingress;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.Queue.Redis;
using ManycoreMail.ReportAuthentication;
using ManycoreMail.Roles.Backdata;
using ManycoreMail.Roles.HttpReceiver;
using ManycoreMail.Roles.MxServer;
using ManycoreMail.Roles.Receiver;
using ManycoreMail.Roles.Scheduler;
using ManycoreMail.Roles.Sender;
using ManycoreMail.Roles.Tracker;
using ManycoreMail.Roles.Transformer;
using ManycoreMail.Sending;
using ManycoreMail.Suppression;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Hosting;

/// <summary>
/// One mailer process: opens the queue store, builds the requested roles from validated options, starts
/// them in the original's documented order (backdata first, receivers last) and stops them in reverse.
/// </summary>
internal sealed class MailerHost : IAsyncDisposable
{
    // Shared connections of the Redis queue store (see OpenRedisAsync).
    private const int QueueConnections = 32;

    private readonly MailerOptions _options;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly List<IMailerRole> _started = [];
    private readonly List<IDisposable> _disposables = [];
    private readonly List<IAsyncDisposable> _disposableRoles = [];
    /// <summary>One per process: a client's failed logins count alike on the SMTP and the HTTP receiver.</summary>
    private readonly LoginThrottle _loginThrottle;
    private IQueueStore? _store;
    /// <summary>What /readyz answers; made when the store is open.</summary>
    private Readiness? _readiness;
    /// <summary>Open when the backdata role runs here: it writes, and this process's API queries through it.</summary>
    private IEventStore? _eventStore;
    private readonly Lock _suppressionsLock = new();
    private readonly TemplateStores _templates;
    private ISuppressionStore? _suppressions;
    private bool _suppressionsClosed;
    private SuppressionWriter? _autoSuppressions;
    /// <summary>Open when the HTTP API runs here: the keys of <c>POST /v1/messages</c>.</summary>
    private IIdempotencyStore? _idempotency;
    /// <summary>Opened at first use: by a receiver holding an X-Send-At message, the scheduler, or a cancel.</summary>
    private readonly ConfiguredScheduleLedger _scheduleLedger;

    public MailerHost(MailerOptions options, ILoggerFactory loggers, TimeProvider time)
    {
        _options = options;
        _loggers = loggers;
        _time = time;
        _logger = loggers.CreateLogger("ManycoreMail.Host");
        _loginThrottle = new LoginThrottle(new LoginThrottleOptions(), time, loggers.CreateLogger<LoginThrottle>());
        _templates = new TemplateStores(options);
        SendComposer = new SendComposer(_templates, new Templates.TemplateRenderer(), new MessageComposer(time), new SendRequestParser());
        _scheduleLedger = new ConfiguredScheduleLedger(options, time);
    }

    /// <summary>Renders and composes JSON sends: the API's now, and held ones at their time (hand it to the scheduler).</summary>
    internal SendComposer SendComposer { get; }

    public MetricsRegistry Metrics { get; } = new();

    /// <summary>The queue store to open: the embedded spool, or Redis shared with other processes.</summary>
    public QueueBackend Queue { get; init; } = QueueBackend.Embedded;

    /// <summary>The process's one suppression list, opened at first use (a process whose roles never ask opens no
    /// file) and disposed with the host. Give it to the roles that check or add entries.</summary>
    public ISuppressionStore Suppressions
    {
        get
        {
            lock (_suppressionsLock)
            {
                ObjectDisposedException.ThrowIf(_suppressionsClosed, this);
                return _suppressions ??= SuppressionStores.Open(_options);
            }
        }
    }

    /// <summary>The automatic entries of the sender and the MX server (bounces, complaints, unsubscribe mails), written to
    /// <see cref="Suppressions"/> in batches; made by the first role that needs it (roles start one after another).</summary>
    private SuppressionWriter AutoSuppressions =>
        _autoSuppressions ??= new SuppressionWriter(Suppressions, _options.Suppression, Metrics.ForRoles(RoleNames.Sender, RoleNames.MxServer), _loggers.CreateLogger<SuppressionWriter>());

    /// <summary>The roles a plain <c>mailer run</c> starts: every role whose section is configured.</summary>
    public static IReadOnlyList<string> ConfiguredRoles(MailerOptions options)
    {
        var roles = new List<string>();
        if (options.Backdata is not null) roles.Add(RoleNames.Backdata);
        if (options.MxServer is not null) roles.Add(RoleNames.MxServer);
        roles.Add(RoleNames.Sender);
        if (options.Transformer is not null) roles.Add(RoleNames.Transformer);
        if (options.Receiver is not null) roles.Add(RoleNames.Receiver);
        if (options.HttpReceiver is not null) roles.Add(RoleNames.HttpReceiver);
        if (options.Tracking is not null) roles.Add(RoleNames.Tracker);
        return roles;
    }

    public async Task StartAsync(IReadOnlyCollection<string> roles, CancellationToken cancellationToken)
    {
        var missing = roles.Where(r => !ConfiguredRoles(_options).Contains(r)).ToArray();
        if (missing.Length > 0)
        {
            throw new ConfigException(missing.Select(r => $"customer config: {SectionOf(r)}: the {r} role is requested but its section is missing").ToArray());
        }
        // Load everything that can fail before anything listens, so a bad key stops the start cleanly.
        var sendingDomains = roles.Contains(RoleNames.Transformer)
            ? SendingDomain.LoadAll(_options.Transformer!.Domains, _time.GetUtcNow(), _loggers.CreateLogger("ManycoreMail.Transformer"))
            : null;

        Directory.CreateDirectory(_options.Storage.Path);
        _store = Queue == QueueBackend.Redis
            ? await OpenRedisAsync(cancellationToken).ConfigureAwait(false)
            : new LeaseKeepingStore(await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(_options.Storage.Path, "spool") }, _time, cancellationToken).ConfigureAwait(false),
                _time, _loggers.CreateLogger("ManycoreMail.Queue"));
        var events = new EventQueue(_store, _options.Queues.Events);
        var queuedSizes = new QueuedMessageSize();
        var transformer = sendingDomains is null ? null : new MessageTransformer(_options.Transformer!, sendingDomains, _options.Tracking);
        var ingress = new IngressQueue(_store, _options.Queues, Metrics.ForRoles(RoleNames.Receiver, RoleNames.HttpReceiver, RoleNames.Transformer), _loggers.CreateLogger<IngressQueue>(),
            _scheduleLedger, queuedSizes, IngressTransformFor(roles, transformer, events));
        RegisterQueueGauges(_store);
        RegisterScheduledGauge(_store);
        RegisterProbesAndPostfixGauges(_store);

        var certificate = roles.Contains(RoleNames.Receiver) || roles.Contains(RoleNames.MxServer)
            ? TlsCertificates.Open(_options.Receiver?.TlsCertificateFile, _options.Receiver?.TlsKeyFile, _options.Storage.Path, _options.Sender.HeloName, _logger)
            : null;

        if (Queue == QueueBackend.Embedded && !roles.Contains(RoleNames.Backdata))
        {
            // Nobody else can read this spool: without a backdata role here, events only pile up.
            _logger.LogWarning("No backdata section: events (delivered, bounce, complaint, ...) stay in the spool's queue {Queue} until a backdata/post-url is configured",
                _options.Queues.Events);
        }

        // Start order as the original documents it: backdata, mx-server, sender, transformer, receivers.
        if (roles.Contains(RoleNames.Backdata))
        {
            _eventStore = await ConfiguredEventStore.OpenAsync(_options.Events, _options.Storage, cancellationToken).ConfigureAwait(false);
            var backdata = new BackdataRole(_store, _options.Queues, _options.Backdata!, Metrics.ForRoles(RoleNames.Backdata), _time, _loggers.CreateLogger<BackdataRole>(), _eventStore);
            _disposables.Add(backdata);
            await StartRoleAsync(backdata.AsRole(), cancellationToken).ConfigureAwait(false);
            await StartRoleAsync(new EventRetention(_eventStore, _options.Events.Retention, _time, _loggers.CreateLogger<EventRetention>()).AsRole(), cancellationToken).ConfigureAwait(false);
            await StartRoleAsync(new SuppressionPurge(Suppressions, _time, _loggers.CreateLogger<SuppressionPurge>()).AsRole(), cancellationToken).ConfigureAwait(false);
        }
        InboundEmailEndpoint? inboundEmail = null;
        if (roles.Contains(RoleNames.MxServer))
        {
            var domains = new HashSet<string>(_options.ReturnPathDomains, StringComparer.OrdinalIgnoreCase);
            if (domains.Count == 0)
            {
                _logger.LogWarning("The MX server has no domains (no transformer domain-settings, no mxserver/domains): it will refuse every recipient");
            }
            var forwarder = _options.MxServer!.Forwarding is { } forwarding
                ? new Forwarder(forwarding, forwarding.Route == ForwardingRouteKind.Relay
                        ? new RelayForwardingRoute(forwarding.Relay!, _options.Sender.HeloName, _time, _loggers.CreateLogger<RelayForwardingRoute>())
                        : new QueueForwardingRoute(_store, _options.Queues.Outbound),
                    _options.Sender.HeloName, Metrics.ForRoles(RoleNames.MxServer), _time, _loggers.CreateLogger<Forwarder>())
                : null;
            if (forwarder is not null && _options.MxServer.Forwarding!.HttpBind is { } emailBind)
            {
                inboundEmail = new InboundEmailEndpoint(emailBind, forwarder, _options.MxServer.Forwarding.Psk!, _options.MxServer.MaxMessageSize, _loggers.CreateLogger<InboundEmailEndpoint>());
            }
            var inbound = InboundWiring.Create(_options, _store, events, Metrics.ForRoles(RoleNames.MxServer), _time, _loggers);
            if (inbound is not null)
            {
                _disposables.Add(inbound);
                await StartRoleAsync(inbound.Worker.AsRole(), cancellationToken).ConfigureAwait(false);
            }
            // Reports are authenticated with the same resolvers as the sender's deliveries.
            var reportDns = new DnsResolver(_options.Sender.DnsServers is { } dnsServers ? DnsResolverOptions.FromServers(dnsServers) : DnsResolverOptions.FromResolvConf(), _time);
            _disposables.Add(reportDns);
            var reports = ReportPolicy.Create(_options.MxServer, reportDns, Metrics.ForRoles(RoleNames.MxServer), _time, _loggers);
            var handler = new MxHandler(domains,
                new EmlStore(_options.MxServer!.EmlDirectory, _options.MxServer.EmlMaxBytes, _options.MxServer.EmlRetention, _time), events, Metrics.ForRoles(RoleNames.MxServer), _time, _loggers.CreateLogger<MxHandler>(), forwarder,
                suppressions: AutoSuppressions,
                unsubscribeScopes: new UnsubscribeScopes(_options.Tracking?.UnsubscribeScope ?? SuppressionScope.Sender, _options.Transformer?.Domains ?? [], _loggers.CreateLogger<UnsubscribeScopes>()),
                inbound: inbound?.Acceptor,
                reports: reports);
            var mx = MxServerRole.Create(_options.MxServer, _options.Sender.HeloName, certificate!, handler, _loggers);
            await StartRoleAsync(mx, cancellationToken).ConfigureAwait(false);
        }
        if (roles.Contains(RoleNames.Sender))
        {
            var resolver = new DnsResolver(_options.Sender.DnsServers is { } servers ? DnsResolverOptions.FromServers(servers) : DnsResolverOptions.FromResolvConf(), _time);
            _disposables.Add(resolver);
            var transportSecurity = TransportSecurityWiring.Create(_options, resolver, _time);
            _disposables.Add(transportSecurity);
            foreach (var transportSecurityRole in transportSecurity.Roles(_options, resolver, _store, _time, _logger))
            {
                await StartRoleAsync(transportSecurityRole, cancellationToken).ConfigureAwait(false);
            }
            var senderMetrics = new SenderMetrics(Metrics.ForRoles(RoleNames.Sender));
            var egressMetrics = new EgressMetrics(Metrics.ForRoles(RoleNames.Sender));
            var sharedLimits = await StartSharedLimitsAsync(cancellationToken).ConfigureAwait(false);
            // On Redis the warm-up counts are the cluster's (warmup.db would be one sender's).
            var warmUps = sharedLimits is null ? SqliteWarmUpStore.OpenIfNeeded(_options.Sender.Delivery, _options.Storage.Path, _time) : null;
            var sharedWarmUps = sharedLimits is null ? null : new RedisWarmUpCounts(sharedLimits, new RedisQueueStoreOptions().KeyPrefix);
            var engine = new DeliveryEngine(_options.Sender.Delivery, _options.Sender.HeloName, _options.Sender.SmtpPort, new MailRouter(resolver), senderMetrics, _time, _loggers.CreateLogger<DeliveryEngine>(),
                new EgressServices(warmUps, egressMetrics, sharedWarmUps), transportSecurity.Gate, sharedLimits);
            _disposables.Add(engine);
            if (warmUps is not null)
            {
                _disposables.Add(warmUps);
            }
            egressMetrics.Watch(engine, EgressProviders.Names(_options.Sender.Delivery.ShapingRules));
            await StartOperationsSyncAsync(engine, cancellationToken).ConfigureAwait(false);
            var outbox = _options.Sender.Sink ? new OutboxSink(Path.Combine(_options.Storage.Path, "outbox"), senderMetrics, _loggers.CreateLogger<OutboxSink>()) : null;
            var sender = new SenderRole(_store, _options.Queues, _options.Sender, engine, senderMetrics, events, Metrics.ForRoles(RoleNames.Sender), _time, _loggers.CreateLogger<SenderRole>(), AutoSuppressions, outbox);
            await StartRoleAsync(sender.AsRole(), cancellationToken).ConfigureAwait(false);
            if (_options.Sender.Delivery.Admin is { } admin)
            {
                await StartRoleAsync(new AdminEndpoint(admin, new DeliveryAdmin(sender, _store, _options.Queues, _options.Sender), _loggers), cancellationToken).ConfigureAwait(false);
            }
        }
        if (roles.Contains(RoleNames.Transformer))
        {
            await StartRoleAsync(new TransformerRole(_store, _options.Queues, transformer!, Suppressions, events, Metrics.ForRoles(RoleNames.Transformer), _time, _loggers.CreateLogger<TransformerRole>()).AsRole(), cancellationToken).ConfigureAwait(false);
            // Held messages go on to the ingress queues wherever they are transformed.
            await StartRoleAsync(new SchedulerRole(_store, _options.Queues, _scheduleLedger, SendComposer, ingress, events, Metrics.ForRoles(RoleNames.Transformer), _time,
                _loggers.CreateLogger<SchedulerRole>()).AsRole(), cancellationToken).ConfigureAwait(false);
            await StartRoleAsync(HourlyPurge.Role("schedule-purge", _scheduleLedger.PurgeAsync, "the schedule ledger", _logger, _time), cancellationToken).ConfigureAwait(false);
        }
        var depthWatch = QueueDepthWatchFor(roles, _store);
        if (depthWatch is not null)
        {
            await depthWatch.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        if (roles.Contains(RoleNames.Receiver))
        {
            var inFlow = new InFlowGate(depthWatch, queuedSizes, _options.Receiver!.InFlow, RoleNames.Receiver, "receiver", Metrics.ForRoles(RoleNames.Receiver), _loggers.CreateLogger<InFlowGate>(), _time);
            var handler = new SubmissionHandler(new LoginCheck(_options.Receiver!.Logins), ingress, Metrics.ForRoles(RoleNames.Receiver), _loggers.CreateLogger<SubmissionHandler>(),
                _options.Receiver.MaxHeaderRecipients, _time);
            await StartRoleAsync(ReceiverRole.Create(_options.Receiver, _options.Sender.HeloName, certificate!, handler, _loginThrottle,
                _options.Receiver.InFlow.Enabled ? inFlow : null, _loggers), cancellationToken).ConfigureAwait(false);
        }
        var api = roles.Contains(RoleNames.HttpReceiver) ? _options.HttpReceiver : null;
        // A process running every configured role serves metrics on every configured bind; one running a
        // subset serves them on the binds of its own roles.
        var servingAll = ConfiguredRoles(_options).All(roles.Contains);
        var metricsBinds = _options.MetricsBinds
            .Where(b => servingAll || roles.Contains(b.Role))
            .Select(b => b.EndPoint)
            .ToArray();
        // Both sending endpoints hold bodies in memory: one budget keeps them together within the configured receiving memory.
        var receiving = api is null ? null : new Smtp.Server.MemoryBudget(api.MaxReceivingBytes);
        var apiInFlow = api is null ? null : new InFlowGate(depthWatch, queuedSizes, api.InFlow, RoleNames.HttpReceiver, "httpreceiver", Metrics.ForRoles(RoleNames.HttpReceiver), _loggers.CreateLogger<InFlowGate>(), _time);
        var mailSend = api is null ? null : new MailSendEndpoint(api, ingress, _loginThrottle, receiving!, apiInFlow!, _time);
        var eventsQuery = api is null ? null : new EventsEndpoint(new ApiAuthentication(api.Logins, _loginThrottle), QueryEventsAsync);
        var suppressionsApi = api is null ? null : new SuppressionsEndpoint(new ApiAuthentication(api.Logins, _loginThrottle), () => Suppressions, _time);
        var templatesApi = api is null ? null : new TemplatesEndpoint(new ApiAuthentication(api.Logins, _loginThrottle), _templates, new Templates.TemplateRenderer());
        if (api is not null)
        {
            _idempotency = await IdempotencyStores.OpenAsync(_options, _time, cancellationToken).ConfigureAwait(false);
            await StartRoleAsync(IdempotencyStores.PurgeRole(_idempotency, _logger, _time), cancellationToken).ConfigureAwait(false);
        }
        var messagesApi = api is null ? null : new MessagesEndpoint(new ApiAuthentication(api.Logins, _loginThrottle), SendComposer, new SendRequestParser(), new SendRequestLimits(),
            ingress, _idempotency!, receiving!, apiInFlow!, _time, _loggers.CreateLogger<MessagesEndpoint>());
        var scheduledApi = api is null ? null : new ScheduledMessagesEndpoint(new ApiAuthentication(api.Logins, _loginThrottle), _scheduleLedger, events, _time);
        if (depthWatch is not null)
        {
            // Once every gate has registered with it: until its first reading (0) nobody is held.
            await StartRoleAsync(new BackgroundLoop("queue-depth-watch", depthWatch.RunAsync, _logger, _time), cancellationToken).ConfigureAwait(false);
        }
        var tracker = roles.Contains(RoleNames.Tracker) ? TrackerRole.Create(_options.Tracking!, _options.Suppression, events, Suppressions, Metrics.ForRoles(RoleNames.Tracker), _time, _loggers) : null;
        // A process with nothing to serve (a lone sender without a prometheus bind) opens no port: Kestrel
        // given no endpoint would take localhost:5000, and a second such process would fail to start.
        if (api is not null || metricsBinds.Length > 0 || inboundEmail is not null || tracker is not null)
        {
            await StartRoleAsync(new HttpFront(api?.Bind, mailSend, metricsBinds, Metrics, _loggers, inboundEmail, eventsQuery, suppressionsApi, tracker, templatesApi, messagesApi, scheduledApi, _readiness, MetricsRolesByPort(roles)), cancellationToken).ConfigureAwait(false);
        }
        _logger.LogInformation("Manycore Mail running: {Roles}", string.Join(", ", roles));
    }

    /// <summary><c>mailer redis-metrics</c>: the original Redis exporter, the four queue gauges (LLEN) on
    /// <c>redis/prometheus</c>, and nothing else.</summary>
    public async Task StartRedisMetricsAsync(CancellationToken cancellationToken)
    {
        var binds = _options.MetricsBinds.Where(b => b.Role == "redis").Select(b => b.EndPoint).ToArray();
        if (binds.Length == 0)
        {
            throw new ConfigException(["customer config: redis/prometheus: required by redis-metrics (the exporter's bind)"]);
        }
        _store = await OpenRedisAsync(cancellationToken).ConfigureAwait(false);
        RegisterQueueGauges(_store);
        RegisterProbesAndPostfixGauges(_store);
        await StartRoleAsync(new HttpFront(null, null, binds, Metrics, _loggers, readiness: _readiness), cancellationToken).ConfigureAwait(false);
        _logger.LogInformation("Redis queue metrics for {Host}:{Port} on {Binds}", _options.Redis.Hostname, _options.Redis.Port, string.Join(", ", binds.Select(b => b.ToString())));
    }

    /// <summary>The API's event queries: through the store this process writes, else straight from the store (a
    /// backdata role in another process writes it); no store yet means no events yet.</summary>
    private async Task<EventPage> QueryEventsAsync(EventQuery query, CancellationToken cancellationToken)
    {
        if (_eventStore is { } open)
        {
            return await open.QueryAsync(query, cancellationToken).ConfigureAwait(false);
        }
        return await ConfiguredEventStore.TryQueryAsync(_options.Events, _options.Storage, query, cancellationToken).ConfigureAwait(false)
            ?? new EventPage([], null);
    }

    /// <summary>Stops roles in reverse start order (receivers first), each within the deadline.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _readiness?.MarkStopping();
        for (var i = _started.Count - 1; i >= 0; i--)
        {
            try
            {
                await _started[i].StopAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or TimeoutException)
            {
                _logger.LogWarning("Role {Role} did not stop within the deadline", _started[i].Name);
            }
        }
        _started.Clear();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        foreach (var role in _disposableRoles)
        {
            await role.DisposeAsync().ConfigureAwait(false);
        }
        foreach (var disposable in _disposables)
        {
            disposable.Dispose();
        }
        if (_eventStore is not null)
        {
            await _eventStore.DisposeAsync().ConfigureAwait(false);
        }
        if (_autoSuppressions is not null)
        {
            // The roles have stopped: what they reported last is written before the store closes.
            await _autoSuppressions.DisposeAsync().ConfigureAwait(false);
        }
        await _templates.DisposeAsync().ConfigureAwait(false);
        if (_idempotency is not null)
        {
            await _idempotency.DisposeAsync().ConfigureAwait(false);
        }
        await _scheduleLedger.DisposeAsync().ConfigureAwait(false);
        ISuppressionStore? suppressions;
        lock (_suppressionsLock)
        {
            (suppressions, _suppressions, _suppressionsClosed) = (_suppressions, null, true);
        }
        if (suppressions is not null)
        {
            await suppressions.DisposeAsync().ConfigureAwait(false);
        }
        if (_store is not null)
        {
            await _store.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task StartRoleAsync(IMailerRole role, CancellationToken cancellationToken)
    {
        if (role is IAsyncDisposable disposable)
        {
            _disposableRoles.Add(disposable);
        }
        await role.StartAsync(cancellationToken).ConfigureAwait(false);
        _started.Add(role);
    }

    /// <summary>The transformer at the receivers' door when this process runs both (see <see cref="IIngressTransform"/>);
    /// null otherwise, and the receivers queue every message for whichever transformer leases it.</summary>
    private IngressTransform? IngressTransformFor(IReadOnlyCollection<string> roles, MessageTransformer? transformer, EventQueue events)
    {
        if (transformer is null || !(roles.Contains(RoleNames.Receiver) || roles.Contains(RoleNames.HttpReceiver)))
        {
            return null;
        }
        var metrics = Metrics.ForRoles(RoleNames.Transformer);
        var logger = _loggers.CreateLogger<TransformerRole>();
        return new IngressTransform(transformer, new CoalescingSuppressionLookup(Suppressions), new TransformerHandOffs(_options.Queues, events, metrics, _time, logger), metrics, _time, logger);
    }

    /// <summary>The one reading of the queue depth the receivers' flow control looks at, when a receiver here has it on;
    /// null otherwise. The depth is what waits behind the receivers: the transformer's input queues and the sender's. On
    /// Redis the ready items only (LLEN), as the queue gauges: what is leased is being worked on, and retries wait for their
    /// time anyway; likewise on the embedded spool (due and not leased).</summary>
    private QueueDepthWatch? QueueDepthWatchFor(IReadOnlyCollection<string> roles, IQueueStore store)
    {
        var wanted = (roles.Contains(RoleNames.Receiver) && _options.Receiver!.InFlow.Enabled)
            || (roles.Contains(RoleNames.HttpReceiver) && _options.HttpReceiver!.InFlow.Enabled);
        if (!wanted)
        {
            return null;
        }
        var queues = new[] { _options.Queues.Primary, _options.Queues.Default, _options.Queues.Outbound }.Distinct(StringComparer.Ordinal).ToArray();
        return new QueueDepthWatch(async token =>
        {
            var depth = 0L;
            foreach (var queue in queues)
            {
                depth += await store.ReadyCountAsync(queue, token).ConfigureAwait(false);
            }
            return depth;
        }, _time, _loggers.CreateLogger<QueueDepthWatch>());
    }

    /// <summary>Suspensions, bounces and adaptive actions in a store that outlives the process (and, on Redis, is the
    /// cluster's): loaded before the first delivery, then kept in step by a loop. A store that does not answer at start
    /// is logged; the loop loads it once it answers.</summary>
    private async Task StartOperationsSyncAsync(DeliveryEngine engine, CancellationToken cancellationToken)
    {
        var redis = Queue == QueueBackend.Redis
            ? new RedisDeliveryStateStore(new RedisClient(RedisClientOf(_options.Redis, "manycore-mail-ops-" + Environment.ProcessId)), new RedisQueueStoreOptions().KeyPrefix)
            : null;
        var sqlite = redis is null ? SqliteDeliveryStateStore.Open(_options.Storage.Path) : null;
        IDeliveryStateStore store = (IDeliveryStateStore?)redis ?? sqlite!;
        var sync = new OperationsSync(engine, store, _time, _loggers.CreateLogger<OperationsSync>());
        engine.Journal(sync.Publish);
        try
        {
            await sync.LoadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (QueueUnavailableException e)
        {
            _logger.LogWarning("The operations state is not reachable yet ({Error}); suspensions apply once it is", e.Message);
        }
        await StartRoleAsync(new BackgroundLoop("operations-sync", async stopping =>
        {
            try
            {
                await sync.RunAsync(stopping).ConfigureAwait(false);
            }
            finally
            {
                sqlite?.Dispose();
                if (redis is not null)
                {
                    await redis.DisposeAsync().ConfigureAwait(false);
                }
            }
        }, _logger, _time), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>On Redis, sites' connection and rate limits and warm-up counts shared by every sender process: the
    /// senders are counted once before the first delivery, then a heartbeat keeps this one's connection leases. Null on
    /// the embedded spool (one process: its own limits are the whole story).</summary>
    private async Task<RedisSiteLimitCoordinator?> StartSharedLimitsAsync(CancellationToken cancellationToken)
    {
        if (Queue != QueueBackend.Redis)
        {
            return null;
        }
        // A connection of its own, with a short command timeout: a Redis that hangs must not hold deliveries long
        // before the senders fall back to their shares.
        var client = new RedisClient(RedisClientOf(_options.Redis, "manycore-mail-limits-" + Environment.ProcessId) with { CommandTimeout = TimeSpan.FromSeconds(2) });
        var limits = new RedisSiteLimitCoordinator(client, new RedisQueueStoreOptions().KeyPrefix, RedisSiteLimitCoordinator.DefaultLease, _time,
            _loggers.CreateLogger<RedisSiteLimitCoordinator>(), Metrics.ForRoles(RoleNames.Sender));
        await limits.HeartbeatAsync(cancellationToken).ConfigureAwait(false);
        await StartRoleAsync(new BackgroundLoop("shared-limits", async stopping =>
        {
            try
            {
                await limits.RunAsync(stopping).ConfigureAwait(false);
            }
            finally
            {
                await limits.DisposeAsync().ConfigureAwait(false);
            }
        }, _logger, _time), cancellationToken).ConfigureAwait(false);
        return limits;
    }

    private async Task<IQueueStore> OpenRedisAsync(CancellationToken cancellationToken)
    {
        var redis = _options.Redis;
        // The queues carry whole messages: more connections let Redis read more bodies per turn of its event loop
        // (see RedisClientOptions.SharedConnections); the other clients of a process carry small commands.
        var client = RedisClientOf(redis, "manycore-mail-" + Environment.ProcessId) with { SharedConnections = QueueConnections };
        var store = new RedisQueueStore(new RedisClient(client), _time, new RedisQueueStoreOptions(), ownsClient: true);
        try
        {
            await store.Client.ConnectAsync(cancellationToken).ConfigureAwait(false);
            _logger.LogInformation("Queues on Redis at {Host}:{Port} (db {Database})", redis.Hostname, redis.Port, redis.Database);
        }
        catch (QueueUnavailableException e)
        {
            // Start anyway, as after an outage: receivers refuse with 4xx and workers wait until Redis answers,
            // so the start order of pods does not matter.
            _logger.LogWarning("Redis at {Host}:{Port} is not reachable yet ({Error}); starting anyway, queue work waits for it", redis.Hostname, redis.Port, e.Message);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return new RedisWorkerStore(store, redis.Lease, _time, _loggers.CreateLogger("ManycoreMail.Queue"));
    }

    /// <summary>How to reach the configured Redis server, as <paramref name="clientName"/> (CLIENT LIST shows it).</summary>
    internal static RedisClientOptions RedisClientOf(RedisOptions redis, string clientName) => new()
    {
        Host = redis.Hostname,
        Port = redis.Port,
        Username = redis.Username,
        Password = redis.Password,
        Database = redis.Database,
        UseTls = redis.Tls,
        ClientName = clientName,
    };

    private void RegisterQueueGauges(IQueueStore store)
    {
        // The original Redis exporter's gauges: on Redis the length of each list (LLEN, ready items only) and
        // 0.0 when Redis does not answer, as the original printed; on the embedded spool every item queued.
        var redis = (store as RedisWorkerStore)?.Inner;
        (string Name, string Queue)[] gauges =
        [
            ("primary_queue_messages", _options.Queues.Primary),
            ("default_queue_messages", _options.Queues.Default),
            ("event_queue_messages", _options.Queues.Events),
            ("queue_to_postfix_messages", _options.Queues.Outbound),
        ];
        foreach (var (name, queue) in gauges)
        {
            Metrics.Gauge(name, $"Messages on queue {queue}.", redis is null
                ? async cancellationToken => await store.CountAsync(queue, cancellationToken).ConfigureAwait(false)
                : cancellationToken => ReadyCountAsync(redis, queue, cancellationToken));
        }
    }

    /// <summary>The roles whose series each metrics port serves: those whose bind it is, and on every port the roles
    /// running here without a bind of their own (their series would be served nowhere otherwise).</summary>
    private Dictionary<int, IReadOnlySet<string>> MetricsRolesByPort(IReadOnlyCollection<string> roles)
    {
        var servingAll = ConfiguredRoles(_options).All(roles.Contains);
        var binds = _options.MetricsBinds.Where(b => servingAll || roles.Contains(b.Role)).ToArray();
        var unbound = roles.Where(r => binds.All(b => b.Role != r)).ToArray();
        return binds.GroupBy(b => b.EndPoint.Port)
            .ToDictionary(g => g.Key, g => (IReadOnlySet<string>)g.Select(b => b.Role).Concat(unbound).ToHashSet(StringComparer.Ordinal));
    }

    /// <summary>/readyz counts the primary queue; the original's postfix gauges with their nearest meaning.</summary>
    private void RegisterProbesAndPostfixGauges(IQueueStore store)
    {
        _readiness = new Readiness(cancellationToken => store.CountAsync(_options.Queues.Primary, cancellationToken));
        var deadLetters = store switch
        {
            RedisWorkerStore redis => redis.Inner,
            LeaseKeepingStore embedded => embedded.Inner as IDeadLetterStore,
            _ => store as IDeadLetterStore,
        };
        PostfixQueueGauges.Register(Metrics, store, deadLetters, _options.Queues);
        SpoolDiskGauges.Register(Metrics, _options.Storage.Path);
    }

    /// <summary>Messages held for a later send time: every item of the scheduled queue on both backends (on Redis
    /// they are not on the ready list until due, so LLEN would show none); 0.0 when the store does not answer.</summary>
    private void RegisterScheduledGauge(IQueueStore store) =>
        Metrics.Gauge("scheduled_messages", $"Messages held on queue {_options.Queues.Scheduled} until their send time.", async cancellationToken =>
        {
            try
            {
                return await store.CountAsync(_options.Queues.Scheduled, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is QueueUnavailableException or QueueStoreException or ObjectDisposedException)
            {
                return 0.0;
            }
        });

    private static async ValueTask<double> ReadyCountAsync(RedisQueueStore redis, string queue, CancellationToken cancellationToken)
    {
        try
        {
            return await redis.ReadyCountAsync(queue, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is QueueUnavailableException or QueueStoreException or ObjectDisposedException)
        {
            return 0.0;
        }
    }

    /// <summary>The customer file's section of a role.</summary>
    internal static string SectionOf(string role) => role switch
    {
        RoleNames.HttpReceiver => "httpreceiver",
        RoleNames.MxServer => "mxserver",
        RoleNames.Sender => "postfixlog",
        RoleNames.Tracker => "tracking",
        _ => role,
    };
}
