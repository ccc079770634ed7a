using ManycoreMail.Config;
using ManycoreMail.Dns;
using ManycoreMail.Events;
using ManycoreMail.Ingress;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.Roles.Backdata;
using ManycoreMail.Roles.HttpReceiver;
using ManycoreMail.Roles.MxServer;
using ManycoreMail.Roles.Receiver;
using ManycoreMail.Roles.Sender;
using ManycoreMail.Roles.Transformer;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Hosting;

/// <summary>
/// One mailer process: opens the queue store, builds the requested roles from validated options, starts
/// them in the original's documented order (backdata first, receivers last) and stops them in reverse.
/// </summary>
internal sealed class MailerHost : IAsyncDisposable
{
    private readonly MailerOptions _options;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly List<IMailerRole> _started = [];
    private readonly List<IDisposable> _disposables = [];
    private readonly List<IAsyncDisposable> _disposableRoles = [];
    private IQueueStore? _store;

    public MailerHost(MailerOptions options, ILoggerFactory loggers, TimeProvider time)
    {
        _options = options;
        _loggers = loggers;
        _time = time;
        _logger = loggers.CreateLogger("ManycoreMail.Host");
    }

    public MetricsRegistry Metrics { get; } = new();

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
            ? SendingDomain.LoadAll(_options.Transformer!.Domains, "customer config")
            : null;

        Directory.CreateDirectory(_options.Storage.Path);
        _store = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(_options.Storage.Path, "spool") }, _time, cancellationToken).ConfigureAwait(false);
        var events = new EventQueue(_store, _options.Queues.Events);
        var ingress = new IngressQueue(_store, _options.Queues, Metrics);
        RegisterQueueGauges(_store);

        var certificate = roles.Contains(RoleNames.Receiver) || roles.Contains(RoleNames.MxServer)
            ? TlsCertificates.LoadOrCreate(_options.Receiver?.TlsCertificateFile, _options.Receiver?.TlsKeyFile, _options.Storage.Path, _options.Sender.HeloName, _logger)
            : null;

        // Start order as the original documents it: backdata, mx-server, sender, transformer, receivers.
        if (roles.Contains(RoleNames.Backdata))
        {
            var backdata = new BackdataRole(_store, _options.Queues, _options.Backdata!, Metrics, _time, _loggers.CreateLogger<BackdataRole>());
            _disposables.Add(backdata);
            await StartRoleAsync(backdata.AsRole(), cancellationToken).ConfigureAwait(false);
        }
        if (roles.Contains(RoleNames.MxServer))
        {
            var domains = new HashSet<string>(_options.ReturnPathDomains, StringComparer.OrdinalIgnoreCase);
            if (domains.Count == 0)
            {
                _logger.LogWarning("The MX server has no domains (no transformer domain-settings, no mxserver/domains): it will refuse every recipient");
            }
            var handler = new MxHandler(domains, new EmlStore(_options.MxServer!.EmlDirectory), events, Metrics, _time, _loggers.CreateLogger<MxHandler>());
            await StartRoleAsync(MxServerRole.Create(_options.MxServer, _options.Sender.HeloName, certificate!, handler, _loggers), cancellationToken).ConfigureAwait(false);
        }
        if (roles.Contains(RoleNames.Sender))
        {
            var resolver = new DnsResolver(_options.Sender.DnsServers is { } servers ? DnsResolverOptions.FromServers(servers) : DnsResolverOptions.FromResolvConf(), _time);
            _disposables.Add(resolver);
            var delivery = new DirectDelivery(_options.Sender, new MailRouter(resolver), _loggers.CreateLogger<DirectDelivery>());
            await StartRoleAsync(new SenderRole(_store, _options.Queues, _options.Sender, delivery, events, Metrics, _time, _loggers.CreateLogger<SenderRole>()).AsRole(), cancellationToken).ConfigureAwait(false);
        }
        if (roles.Contains(RoleNames.Transformer))
        {
            var transformer = new MessageTransformer(_options.Transformer!, sendingDomains!);
            await StartRoleAsync(new TransformerRole(_store, _options.Queues, transformer, events, Metrics, _time, _loggers.CreateLogger<TransformerRole>()).AsRole(), cancellationToken).ConfigureAwait(false);
        }
        if (roles.Contains(RoleNames.Receiver))
        {
            var handler = new SubmissionHandler(new LoginCheck(_options.Receiver!.Logins), ingress, Metrics, _loggers.CreateLogger<SubmissionHandler>());
            await StartRoleAsync(ReceiverRole.Create(_options.Receiver, _options.Sender.HeloName, certificate!, handler, _loggers), cancellationToken).ConfigureAwait(false);
        }
        var api = roles.Contains(RoleNames.HttpReceiver) ? _options.HttpReceiver : null;
        // A process running every configured role serves metrics on every configured bind; one running a
        // subset serves them on the binds of its own roles.
        var servingAll = ConfiguredRoles(_options).All(roles.Contains);
        var metricsBinds = _options.MetricsBinds
            .Where(b => servingAll || roles.Contains(b.Role))
            .Select(b => b.EndPoint)
            .ToArray();
        var mailSend = api is null ? null : new MailSendEndpoint(api, ingress, _loggers.CreateLogger<MailSendEndpoint>());
        await StartRoleAsync(new HttpFront(api?.Bind, mailSend, metricsBinds, Metrics, _loggers), cancellationToken).ConfigureAwait(false);
        _logger.LogInformation("Manycore Mail running: {Roles}", string.Join(", ", roles));
    }

    /// <summary>Stops roles in reverse start order (receivers first), each within the deadline.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
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

    private void RegisterQueueGauges(IQueueStore store)
    {
        // The original Redis exporter's gauges; here read from the embedded spool.
        (string Name, string Queue)[] gauges =
        [
            ("primary_queue_messages", _options.Queues.Primary),
            ("default_queue_messages", _options.Queues.Default),
            ("event_queue_messages", _options.Queues.Events),
            ("queue_to_postfix_messages", _options.Queues.Outbound),
        ];
        foreach (var (name, queue) in gauges)
        {
            Metrics.Gauge(name, $"Messages on queue {queue}.", () => store.CountAsync(queue, CancellationToken.None).AsTask().GetAwaiter().GetResult());
        }
    }

    private static string SectionOf(string role) => role switch
    {
        RoleNames.HttpReceiver => "httpreceiver",
        RoleNames.MxServer => "mxserver",
        RoleNames.Sender => "postfixlog",
        _ => role,
    };
}
