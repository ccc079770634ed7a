using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using ManycoreMail.AutoSuppression;
using ManycoreMail.Config;
using ManycoreMail.Delivery;
using ManycoreMail.Dns;
using ManycoreMail.Events;
using ManycoreMail.Hosting;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.Roles.Sender;
using ManycoreMail.Smtp;
using ManycoreMail.Smtp.Server;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.IntegrationTests;

/// <summary>
/// The sender role in-process over a real embedded spool, resolving through a real dnsmasq whose MX records point at
/// 127.0.0.x hosts where tests start scripted SMTP servers (our SmtpServer library) or smtp-sink. Events are read back
/// from the spool's events queue.
/// </summary>
internal sealed class DeliveryHarness : IAsyncDisposable
{
    public const string Outbound = "OUT";
    public const string EventsQueue = "EVENTS";

    private readonly string _directory;
    private readonly List<IAsyncDisposable> _servers = [];
    private readonly List<JsonElement> _events = [];
    private DnsResolver? _resolver;
    private IMailerRole? _role;
    private LeaseKeepingStore? _leases;
    private AdminEndpoint? _admin;

    private DeliveryHarness(string directory, Dnsmasq dns, int port, EmbeddedSpool store)
    {
        _directory = directory;
        Dns = dns;
        Port = port;
        Store = store;
    }

    public Dnsmasq Dns { get; }
    /// <summary>The SMTP port every MX host listens on (each at its own loopback address).</summary>
    public int Port { get; }
    public EmbeddedSpool Store { get; }
    public MetricsRegistry Metrics { get; } = new();
    public SenderRole? Role { get; private set; }

    /// <param name="dnsLines">dnsmasq lines, e.g. <c>mx-host=a.test,mx.a.test,10</c>.</param>
    public static async Task<DeliveryHarness> StartAsync(IEnumerable<string> dnsLines)
    {
        var directory = Path.Combine(Path.GetTempPath(), "mm-delivery-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        var dns = Dnsmasq.Start(dnsLines);
        var store = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(directory, "spool") }, TimeProvider.System, CancellationToken.None);
        return new DeliveryHarness(directory, dns, FreePort.Tcp(IPAddress.Parse("127.0.0.40")), store);
    }

    /// <param name="suppressions">Where the sender adds the entries of its bounces; null: none.</param>
    /// <param name="logger">The sender role's logger; null: none.</param>
    /// <param name="dnsServer">The resolver the sender asks instead of the harness's dnsmasq (a validating unbound).</param>
    /// <param name="transportSecurity">MTA-STS and DANE over the sender's resolver; null: opportunistic TLS only.</param>
    /// <param name="warmUps">Where warm-up counts persist; null: in memory.</param>
    /// <param name="engineLogger">The delivery engine's logger (adaptive shaping's lines); null: none.</param>
    public async Task StartSenderAsync(Func<SenderOptions, SenderOptions>? configure = null, TimeProvider? time = null, SuppressionWriter? suppressions = null,
        ILogger<SenderRole>? logger = null, IPEndPoint? dnsServer = null, Func<IDnsResolver, TransportSecurity.TransportSecurityGate>? transportSecurity = null,
        IWarmUpStore? warmUps = null, ILogger<DeliveryEngine>? engineLogger = null)
    {
        var options = new SenderOptions
        {
            HeloName = "mailer.sender.test",
            SmtpPort = Port,
            FirstRetryDelay = TimeSpan.FromSeconds(1),
            MaxRetryDelay = TimeSpan.FromSeconds(2),
            MaxQueueLifetime = TimeSpan.FromHours(1),
            Delivery = new DeliveryOptions
            {
                IdleTimeout = TimeSpan.FromSeconds(10),
                // Loopback connects are refused or accepted at once; the margin is for a CI machine whose thread pool
                // is busy with other tests, where a connect's completion can wait in the queue long enough for a
                // short timer to cancel it (the likely cause of a CI run where a relay test deferred for another reason
                // than the one it waited for, after exactly the old 5 s).
                ConnectTimeout = TimeSpan.FromSeconds(30),
                CommandTimeout = TimeSpan.FromSeconds(10),
                SiteBackoff = TimeSpan.FromMinutes(10),
            },
        };
        options = configure?.Invoke(options) ?? options;
        Options = options;
        time ??= TimeProvider.System;
        _resolver = new DnsResolver(DnsResolverOptions.FromServers([(dnsServer ?? Dns.EndPoint).ToString()]), time);
        var senderMetrics = new SenderMetrics(Metrics);
        var egressMetrics = new EgressMetrics(Metrics);
        var engine = new DeliveryEngine(options.Delivery, options.HeloName, options.SmtpPort, new MailRouter(_resolver), senderMetrics, time,
            engineLogger ?? NullLogger<DeliveryEngine>.Instance, new EgressServices(warmUps, egressMetrics),
            transportSecurity?.Invoke(_resolver));
        egressMetrics.Watch(engine, EgressProviders.Names(options.Delivery.ShapingRules));
        // As the host runs it: the spool behind the store that keeps the sender's leases while it delivers.
        _leases = new LeaseKeepingStore(Store, time, NullLogger.Instance);
        Role = new SenderRole(_leases, new QueueNames("P0", "P1", Outbound, EventsQueue), options, engine, senderMetrics, new EventQueue(Store, EventsQueue),
            Metrics, time, logger ?? NullLogger<SenderRole>.Instance, suppressions);
        _role = Role.AsRole();
        await _role.StartAsync(CancellationToken.None);
    }

    /// <summary>Where the harness keeps files for the test.</summary>
    public string Directory => _directory;

    /// <summary>Starts the operations endpoint over the running sender, on a free loopback port.</summary>
    public async Task<Uri> StartAdminAsync(string token)
    {
        var bind = new IPEndPoint(IPAddress.Loopback, FreePort.Tcp(IPAddress.Loopback));
        var admin = new AdminEndpoint(new AdminOptions(bind, token),
            new DeliveryAdmin(Role!, Store, new QueueNames("P0", "P1", Outbound, EventsQueue), Options!), NullLoggerFactory.Instance);
        _admin = admin;
        await admin.StartAsync(CancellationToken.None);
        return new Uri($"http://{bind}/");
    }

    public SenderOptions? Options { get; private set; }

    public ValueTask EnqueueAsync(string uuid, params string[] recipients) =>
        Store.EnqueueAsync(Outbound, new QueueItem(
            new MessageEnvelope { Uuid = uuid, ReturnPath = $"bounce-{uuid}@returns.sender.test", Recipients = recipients, Campaign = "spring" },
            Encoding.ASCII.GetBytes($"From: a@sender.test\r\nTo: {string.Join(", ", recipients)}\r\nSubject: {uuid}\r\nMessage-ID: <{uuid}@sender.test>\r\n\r\nHello {uuid}.\r\n")),
            CancellationToken.None);

    /// <summary>Every event so far, waiting until <paramref name="count"/> have come. The sender emits a deferred event for
    /// every 4xx (stored always, posted only when backdata/event-types lists it): like the webhook by default, this leaves
    /// them out unless <paramref name="withDeferred"/>.</summary>
    public Task<IReadOnlyList<JsonElement>> WaitForEventsAsync(int count, TimeSpan? timeout = null, bool withDeferred = false) =>
        Eventually.GetAsync(async () =>
        {
            var leased = await Store.LeaseAsync(EventsQueue, 1000, TimeSpan.FromHours(1), CancellationToken.None);
            if (leased.Count > 0)
            {
                var transaction = new QueueTransaction();
                foreach (var item in leased)
                {
                    _events.Add(JsonDocument.Parse(item.Body).RootElement.Clone());
                    transaction.Complete(item);
                }
                await Store.CommitAsync(transaction, CancellationToken.None);
            }
            var events = _events.Where(e => withDeferred || e.GetProperty("event").GetString() != "deferred").ToList();
            return events.Count >= count ? (IReadOnlyList<JsonElement>)events : null;
        }, timeout ?? TimeSpan.FromSeconds(30), $"{count} event(s)");

    public ScriptedServer StartServer(string address, ScriptedHandler handler, SmtpServerOptions? options = null)
    {
        var server = new ScriptedServer(options ?? new SmtpServerOptions { ServerName = "mx.test" }, handler);
        server.Server.Start(new IPEndPoint(IPAddress.Parse(address), Port));
        _servers.Add(server);
        return server;
    }

    public Task<string> MetricsTextAsync() => Metrics.RenderAsync(CancellationToken.None);

    /// <summary>The metrics once they hold every one of <paramref name="lines"/>: a server counts a delivery when it
    /// answers the DATA, the sender only once it has read that answer, so a test that saw the server's count must wait for the sender's.</summary>
    public Task<string> MetricsContainingAsync(params string[] lines) =>
        Eventually.GetAsync(async () => await MetricsTextAsync() is { } text && lines.All(text.Contains) ? text : null, TimeSpan.FromSeconds(30),
            "metrics with " + string.Join(", ", lines));

    public async ValueTask DisposeAsync()
    {
        if (_admin is not null)
        {
            await _admin.DisposeAsync();
        }
        if (_role is not null)
        {
            await _role.StopAsync(CancellationToken.None);
        }
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }
        if (_leases is not null)
        {
            await _leases.DisposeAsync();
        }
        await Store.DisposeAsync();
        _resolver?.Dispose();
        Dns.Dispose();
        try
        {
            System.IO.Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=relay.test", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        // The names a relay is reached by in tests, so that verification can succeed when the certificate is trusted.
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("relay.test");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, 0, critical: true));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }
}

internal sealed class ScriptedServer(SmtpServerOptions options, ScriptedHandler handler) : IAsyncDisposable
{
    public SmtpServer Server { get; } = new(options, handler, NullLogger.Instance);
    public ScriptedHandler Handler { get; } = handler;

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}

/// <summary>An MX whose answer to each RCPT is scripted by recipient and attempt number; counts sessions.</summary>
internal sealed class ScriptedHandler(Func<string, int, SmtpReply>? rcpt = null, TimeSpan? dataDelay = null) : ISmtpHandler
{
    private readonly ConcurrentDictionary<string, int> _attempts = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<SmtpSessionInfo, bool> _sessions = new();
    private readonly Lock _lock = new();
    private int _active;
    private int _authAttempts;

    public ConcurrentQueue<(string Recipient, SmtpSessionInfo Session)> Delivered { get; } = new();
    /// <summary>The recipients of each transaction that reached DATA.</summary>
    public ConcurrentQueue<string[]> Transactions { get; } = new();
    public string? ExpectedUser { get; init; }
    public string? ExpectedPassword { get; init; }
    public int Sessions => _sessions.Count;
    public int MaxConcurrentTransactions { get; private set; }
    public int Attempts(string recipient) => _attempts.GetValueOrDefault(recipient);

    /// <summary>AUTH attempts that reached the server (whatever their outcome): credentials it was given.</summary>
    public int AuthAttempts => Volatile.Read(ref _authAttempts);

    public ValueTask<bool> AuthenticateAsync(SmtpSessionInfo session, string user, string password, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _authAttempts);
        return ValueTask.FromResult(user == ExpectedUser && password == ExpectedPassword);
    }

    public ValueTask<SmtpReply> MailFromAsync(SmtpSessionInfo session, string reversePath, CancellationToken cancellationToken)
    {
        _sessions.TryAdd(session, true);
        return ValueTask.FromResult(SmtpReply.Ok());
    }

    public ValueTask<SmtpReply> RcptToAsync(SmtpSessionInfo session, string reversePath, string forwardPath, CancellationToken cancellationToken)
    {
        var attempt = _attempts.AddOrUpdate(forwardPath, 1, (_, n) => n + 1);
        return ValueTask.FromResult(rcpt?.Invoke(forwardPath, attempt) ?? SmtpReply.Ok());
    }

    public async ValueTask<SmtpReply> MessageAsync(SmtpSessionInfo session, SmtpEnvelope envelope, ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _active++;
            MaxConcurrentTransactions = Math.Max(MaxConcurrentTransactions, _active);
        }
        try
        {
            if (dataDelay is { } delay)
            {
                await Task.Delay(delay, cancellationToken);
            }
            foreach (var recipient in envelope.Recipients)
            {
                Delivered.Enqueue((recipient, session));
            }
            Transactions.Enqueue([.. envelope.Recipients]);
            return SmtpReply.Ok();
        }
        finally
        {
            lock (_lock)
            {
                _active--;
            }
        }
    }
}

/// <summary>A server that greets with 421 and hangs up: a site telling us to back off.</summary>
internal sealed class BusyServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _connections;

    public BusyServer(IPEndPoint endPoint)
    {
        _listener = new TcpListener(endPoint);
        _listener.Start();
        _loop = AcceptAsync();
    }

    public int Connections => Volatile.Read(ref _connections);

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                Interlocked.Increment(ref _connections);
                await client.GetStream().WriteAsync("421 4.7.0 mx.busy.test Too many connections, try again later\r\n"u8.ToArray(), _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _loop;
        _stop.Dispose();
    }
}
