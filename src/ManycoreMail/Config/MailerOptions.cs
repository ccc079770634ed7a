using System.Net;

namespace ManycoreMail.Config;

/// <summary>Everything the process needs, validated, immutable. Roles receive only their own part.</summary>
internal sealed record MailerOptions
{
    public required QueueNames Queues { get; init; }
    public required StorageOptions Storage { get; init; }
    public required RedisOptions Redis { get; init; }
    public HttpReceiverOptions? HttpReceiver { get; init; }
    public ReceiverOptions? Receiver { get; init; }
    public TransformerOptions? Transformer { get; init; }
    public required SenderOptions Sender { get; init; }
    public MxServerOptions? MxServer { get; init; }
    public BackdataOptions? Backdata { get; init; }
    /// <summary>The event store (<c>events</c>): always present, with its defaults when the section is absent.</summary>
    public EventsOptions Events { get; init; } = new();
    /// <summary>Open, click and unsubscribe tracking (<c>tracking</c>); null when the section is absent.</summary>
    public TrackingOptions? Tracking { get; init; }
    /// <summary>Which reports add suppression entries (<c>suppression</c>): always present, with its defaults.</summary>
    public SuppressionOptions Suppression { get; init; } = new();
    /// <summary>Every configured prometheus bind, by the role that configured it.</summary>
    public required IReadOnlyList<MetricsBind> MetricsBinds { get; init; }
    /// <summary>The domains whose MX reaches our MX server (return-path domains of every sending domain).</summary>
    public required IReadOnlyList<string> ReturnPathDomains { get; init; }
}

internal sealed record QueueNames(string Primary, string Default, string Outbound, string Events)
{
    /// <summary>Our own queue (the original has none): messages held until their send time (<c>send_at</c>,
    /// <c>X-Send-At</c>), each item due at that time.</summary>
    public string Scheduled { get; init; } = "SCHEDULED-MAIL-QUEUE";

    /// <summary>Our own queue: mail the MX server accepted for an inbound route, waiting to be posted to the
    /// customer's URL.</summary>
    public string Inbound { get; init; } = "INBOUND-TO-CUSTOMER";
}

internal sealed record StorageOptions(string Path);

/// <summary>The <c>events</c> section: where every event is kept for queries, and for how long: SQLite in
/// <c>storage/path</c>, or the PostgreSQL database a cluster shares.</summary>
internal sealed record EventsOptions
{
    public const string SqliteFileName = "events.db";
    public const int DefaultRetentionDays = 90;

    public int RetentionDays { get; init; } = DefaultRetentionDays;

    public TimeSpan Retention => TimeSpan.FromDays(RetentionDays);

    /// <summary>The Npgsql connection string of <c>events/postgresql</c> with <c>store: postgresql</c>; null: SQLite.
    /// It may hold a password: never log it.</summary>
    public string? Postgresql { get; init; }

    public static string SqlitePath(StorageOptions storage) => System.IO.Path.Combine(storage.Path, SqliteFileName);
}

/// <summary>The Redis server of the queue backend (<c>reliable-queue/redis/*</c>); used with <c>--queue redis</c>.</summary>
internal sealed record RedisOptions(string Hostname, int Port)
{
    /// <summary>ACL user; null means "default" when a password is set.</summary>
    public string? Username { get; init; }
    public string? Password { get; init; }
    public bool Tls { get; init; }
    /// <summary>Logical database (SELECT).</summary>
    public int Database { get; init; }
    /// <summary>Lease of an item in Redis, renewed by its holder every third of it: how long the items of a
    /// process that died stay away from the other instances.</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Whether some section names this server (<c>reliable-queue/redis</c>); false when these are the
    /// built-in localhost:6379 defaults. A single-role command uses Redis only when it is configured.</summary>
    public bool Configured { get; init; }
}

internal sealed record MetricsBind(string Role, IPEndPoint EndPoint);

/// <summary>A login of the SMTP receiver or the HTTP API; <paramref name="Tenant"/> (<c>auth-logins[].tenant</c>) is the
/// tenant every message it submits belongs to.</summary>
internal sealed record Credential(string Username, string Password, string? Tenant = null);

internal sealed record HttpReceiverOptions
{
    public required IPEndPoint Bind { get; init; }
    public required IPEndPoint MetricsBind { get; init; }
    public required IReadOnlyList<Credential> Logins { get; init; }
    public long MaxMessageSize { get; init; } = 32 * 1024 * 1024;
    /// <summary>Bytes of request bodies /v1/mail/send holds at once; past it, 503 with Retry-After.</summary>
    public long MaxReceivingBytes { get; init; } = 256L * 1024 * 1024;
    /// <summary>Recipients one message may name in To, Cc and Bcc; more are refused with 400.</summary>
    public int MaxHeaderRecipients { get; init; } = Ingress.HeaderRecipientLimit.Default;
    public InFlowSettings InFlow { get; init; } = InFlowSettings.Default;
}

/// <summary>A receiver's flow control: while more than <see cref="QueueDepth"/> messages, or an estimated
/// <see cref="QueueBytes"/> of them, wait in the queues behind it, a new message waits up to <see cref="Delay"/> before it
/// is received (<c>in-flow-delay-seconds</c>, <c>in-flow-queue-depth</c>, <c>in-flow-queue-megabytes</c>). A zero delay
/// turns it off; zero bytes leaves the count alone as the mark.</summary>
internal sealed record InFlowSettings(TimeSpan Delay, long QueueDepth, long QueueBytes = InFlowSettings.DefaultQueueBytes)
{
    /// <summary>Measured (bench/results/inflow-ab.md): at 100 KB on Redis it cut p99 accept-to-delivery from 30 s to
    /// 2.5 s and peak memory from 580 to 235 MB on a busy machine, and raised throughput; 500 kept a 10 s p99, 50 gained
    /// little (2.1 s) and leaves less than one 50 ms reading of 5 KB work queued. Above the transformer's lease batch (64).</summary>
    public const int DefaultQueueDepth = 100;

    /// <summary>The work a queue holds grows with its messages' size (body hashing, copies, on Redis the AOF), so a
    /// count alone lets large mail wait longer: at 100 KB on Redis the count of 100 gave p99 accept-to-delivery of
    /// 0.8-1.5 s, 4 MB 0.45-0.6 s at the same throughput, 8 MB about 0.7 s (bench/results/inflow-bytes.md). At 5 KB,
    /// 100 messages are half a megabyte, so the count stays the mark there.</summary>
    public const long DefaultQueueBytes = 4L * 1024 * 1024;

    public static InFlowSettings Default { get; } = new(TimeSpan.FromSeconds(1), DefaultQueueDepth);

    public bool Enabled => Delay > TimeSpan.Zero;
}

internal sealed record ReceiverOptions
{
    public required IPEndPoint Bind { get; init; }
    public required IReadOnlyList<Credential> Logins { get; init; }
    public required IReadOnlyList<IPNetwork> TrustedNetworks { get; init; }
    public string? TlsCertificateFile { get; init; }
    public string? TlsKeyFile { get; init; }
    public long MaxMessageSize { get; init; } = 32 * 1024 * 1024;
    /// <summary>Recipients one message may name in To, Cc and Bcc; more are refused with 550 5.5.3.</summary>
    public int MaxHeaderRecipients { get; init; } = Ingress.HeaderRecipientLimit.Default;
    public SmtpListenerSettings Listener { get; init; } = new();
    public InFlowSettings InFlow { get; init; } = InFlowSettings.Default;
}

/// <summary>Limits and transport options shared by the SMTP listeners (receiver, mxserver sections).</summary>
internal sealed record SmtpListenerSettings
{
    public int MaxSessions { get; init; } = 1000;
    public int MaxSessionsPerClient { get; init; } = 100;
    public int MaxRecipients { get; init; } = 100;
    public int MaxErrors { get; init; } = 10;
    public int MaxAuthFailures { get; init; } = 3;
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(5);
    public TimeSpan DataTimeout { get; init; } = TimeSpan.FromMinutes(10);
    public bool ProxyProtocol { get; init; }
    /// <summary>The load balancers whose PROXY headers are believed (required with <see cref="ProxyProtocol"/>).</summary>
    public IReadOnlyList<IPNetwork> ProxyProtocolFrom { get; init; } = [];
    public TimeSpan MaxSessionLifetime { get; init; } = TimeSpan.FromMinutes(30);
    /// <summary>Bytes per second, averaged over <see cref="DataRateWindow"/>, while content arrives; 0: none.</summary>
    public int MinDataRate { get; init; } = 1024;
    public TimeSpan DataRateWindow { get; init; } = TimeSpan.FromSeconds(30);
    public long MaxReceivingBytes { get; init; } = 256L * 1024 * 1024;
}

internal sealed record DomainSettings
{
    public required string Domain { get; init; }
    public required string DkimPrivateKeyFile { get; init; }
    public required string ReturnPathDomain { get; init; }
    public string Selector { get; init; } = "mailer";
    public string? BeaconUrl { get; init; }
    /// <summary>The main key's window (not-before / not-after on the domain's entry).</summary>
    public DateTimeOffset? DkimNotBefore { get; init; }
    public DateTimeOffset? DkimNotAfter { get; init; }
    /// <summary>Where the main key is configured, for errors about it ("file: transformer/domain-settings[0]").</summary>
    public string ConfigKey { get; init; } = "transformer/domain-settings";
    public IReadOnlyList<DkimKeySettings> ExtraDkimKeys { get; init; } = [];

    /// <summary>Every configured key: the main one, then the extra ones in configuration order.</summary>
    public IEnumerable<DkimKeySettings> DkimKeys =>
        ExtraDkimKeys.Prepend(new DkimKeySettings(Selector, DkimPrivateKeyFile, $"{ConfigKey}/dkim-private-key-file")
        {
            NotBefore = DkimNotBefore,
            NotAfter = DkimNotAfter,
        });
}

/// <summary>One DKIM key of a sending domain; <paramref name="ConfigKey"/> names the file and key of its
/// private-key-file for errors.</summary>
internal sealed record DkimKeySettings(string Selector, string PrivateKeyFile, string ConfigKey)
{
    public DateTimeOffset? NotBefore { get; init; }
    public DateTimeOffset? NotAfter { get; init; }
}

internal sealed record TransformerOptions
{
    /// <summary>Null when the global file sets x-mailer to null: then no X-Mailer is added.</summary>
    public required string? XMailer { get; init; }
    /// <summary>Header name → template with {{uuid}} and {{from-domain}} (the return-path domain).</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> InjectHeaders { get; init; }
    public required IReadOnlyList<DomainSettings> Domains { get; init; }
    public string? FeedbackCampaignId { get; init; }
    public string? FeedbackMailType { get; init; }
    public string? FeedbackSenderId { get; init; }
}

internal sealed record SenderOptions
{
    /// <summary>Null means /etc/resolv.conf.</summary>
    public IReadOnlyList<string>? DnsServers { get; init; }
    public int SmtpPort { get; init; } = 25;
    public required string HeloName { get; init; }
    public int MaxConcurrentDeliveries { get; init; } = 100;
    /// <summary>Bytes of message bodies the sender holds in memory at once (it holds each message it delivers).</summary>
    public long MaxDeliveryMemoryBytes { get; init; } = 256L * 1024 * 1024;
    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromMinutes(5);
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromHours(4);
    public TimeSpan MaxQueueLifetime { get; init; } = TimeSpan.FromHours(12);
    /// <summary>Lease of a message in delivery, renewed every third of it while the delivery lasts.</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromMinutes(30);
    /// <summary>Everything else the delivery engine reads (pools, shaping, TLS, relay, per-queue lifetimes).</summary>
    public Delivery.DeliveryOptions Delivery { get; init; } = new();
    /// <summary>The retry settings above, as the delivery library takes them.</summary>
    public Delivery.RetryPolicy Retries => new(FirstRetryDelay, MaxRetryDelay, MaxQueueLifetime, Delivery.QueueLifetimes);
    /// <summary><c>sender/sink</c>: nothing is sent; every message is written to storage/path/outbox (dev mode).</summary>
    public bool Sink { get; init; }
    /// <summary><c>sender/mta-sts</c>, <c>sender/dane</c>, <c>sender/ca-file</c>, <c>sender/tls-rpt</c>.</summary>
    public TransportSecurityOptions TransportSecurity { get; init; } = new();
}

internal sealed record MxServerOptions
{
    public required IPEndPoint Bind { get; init; }
    public required string EmlDirectory { get; init; }
    public string? YahooAbuseAddress { get; init; }
    /// <summary>Further domains we accept mail for, besides the return-path domains.</summary>
    public IReadOnlyList<string> ExtraDomains { get; init; } = [];
    public long MaxMessageSize { get; init; } = 32 * 1024 * 1024;
    public SmtpListenerSettings Listener { get; init; } = new();
    /// <summary>Cap on the unclassified mails kept in <see cref="EmlDirectory"/>; the oldest go first. 0: none.</summary>
    public long EmlMaxBytes { get; init; } = 1024L * 1024 * 1024;
    /// <summary>How long an unclassified mail is kept. Zero: for ever.</summary>
    public TimeSpan EmlRetention { get; init; } = TimeSpan.FromDays(30);
    /// <summary>Inbound forwarding of alias mail (SRS, POST /v1/email); null when not configured.</summary>
    public Roles.MxServer.ForwardingOptions? Forwarding { get; init; }
    /// <summary><c>inbound-routes</c>: addresses and domains whose mail is posted to the customer's URL.</summary>
    public IReadOnlyList<Inbound.InboundRoute> InboundRoutes { get; init; } = [];
    /// <summary><c>inbound-first-retry-seconds</c>: the first wait after a failed POST, doubled each time.</summary>
    public TimeSpan InboundFirstRetry { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary><c>inbound-max-retry-seconds</c>: the longest wait between POSTs.</summary>
    public TimeSpan InboundMaxRetry { get; init; } = TimeSpan.FromHours(1);
    /// <summary><c>feedback-loops</c>: the reporting domains of the feedback loops we joined (an ARF report DKIM-signed
    /// by, or SPF-passing for, one of them or a subdomain is authenticated).</summary>
    public IReadOnlyList<string> FeedbackLoops { get; init; } = [];
    /// <summary><c>suppress-unauthenticated</c>: reports that were not authenticated suppress as well (off: they only
    /// become events marked <c>authenticated: false</c>).</summary>
    public bool SuppressUnauthenticated { get; init; }
    /// <summary><c>public-suffix-list</c>: the Public Suffix List file, for organizational domains (relaxed alignment).</summary>
    public string PublicSuffixList { get; init; } = ReportAuthentication.PublicSuffixList.DefaultPath;
    /// <summary><c>report-authentication-timeout-seconds</c>: SPF and DKIM of a report together, at most this long.</summary>
    public TimeSpan ReportAuthenticationTimeout { get; init; } = TimeSpan.FromSeconds(15);
}

internal sealed record BackdataOptions
{
    /// <summary>Null: no webhook; events are only stored (the event store, <c>mailer events</c>).</summary>
    public Uri? PostUrl { get; init; }
    public int BatchSize { get; init; } = 50;
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromMinutes(1);
    /// <summary><c>backdata/event-types</c>: the kinds posted besides the original's (every kind is stored).</summary>
    public IReadOnlySet<string> EventTypes { get; init; } = new HashSet<string>(StringComparer.Ordinal);
    /// <summary><c>backdata/signing-secrets</c>: Standard Webhooks secrets, one signature each; empty: unsigned.</summary>
    public IReadOnlyList<string> SigningSecrets { get; init; } = [];
    /// <summary><c>backdata/headers</c>: extra request headers (e.g. Authorization); their values are never logged.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    /// <summary>True when an event of <paramref name="kind"/> goes to the webhook: the original's kinds always, ours
    /// only when listed, so the original's consumers see nothing new by default.</summary>
    public bool Posts(string? kind) => PostUrl is not null && kind is not null && (Events.EventKinds.Original.Contains(kind) || EventTypes.Contains(kind));
}
