using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ManycoreMail.Config;

/// <summary>Where the two YAML files and the receiver's TLS files come from (the original's flags).</summary>
internal sealed record ConfigSources(string GlobalFile, string CustomerFile, string? TlsCertFile = null, string? TlsKeyFile = null);

/// <summary>The outcome of loading: options plus warnings to log.</summary>
internal sealed record LoadedConfig(MailerOptions Options, IReadOnlyList<string> Warnings);

/// <summary>
/// Reads the original system's two YAML files as they are (every key it used), plus our additions under
/// new keys, validates everything and reports every problem at once as "file: key: what is wrong".
/// </summary>
internal static partial class ConfigLoader
{
    public static LoadedConfig Load(ConfigSources sources)
    {
        var problems = new ConfigProblems();
        var global = ConfigFile.Load(sources.GlobalFile, problems);
        var customer = ConfigFile.Load(sources.CustomerFile, problems);
        return Build(global, customer, sources, problems);
    }

    public static LoadedConfig Parse(string globalYaml, string customerYaml, string globalName = "global.yaml", string customerName = "customer.yaml")
    {
        var problems = new ConfigProblems();
        var global = ConfigFile.Parse(globalName, globalYaml, problems);
        var customer = ConfigFile.Parse(customerName, customerYaml, problems);
        return Build(global, customer, new ConfigSources(globalName, customerName), problems);
    }

    private static LoadedConfig Build(ConfigFile global, ConfigFile customer, ConfigSources sources, ConfigProblems problems)
    {
        var queues = ReadQueueNames(global);
        var xMailerSection = global.Section("transformer");
        var xMailer = xMailerSection.IsExplicitNull("x-mailer") ? null : xMailerSection.String("x-mailer") ?? "Inboxbooster-Mailer";

        var metricsBinds = new List<MetricsBind>();
        var storage = new StorageOptions(FullPath(customer.Section("storage").String("path") ?? "./data"));

        var httpReceiver = ReadHttpReceiver(customer.Section("httpreceiver"));
        if (httpReceiver is not null)
        {
            metricsBinds.Add(new MetricsBind("http-receiver", httpReceiver.MetricsBind));
        }
        var receiver = ReadReceiver(customer.Section("receiver"), sources, metricsBinds);
        var transformer = ReadTransformer(customer.Section("transformer"), xMailer, metricsBinds);
        var postfixlog = customer.Section("postfixlog");
        var sender = ReadSender(customer.Section("sender"), postfixlog, metricsBinds);
        var mxServer = ReadMxServer(customer.Section("mxserver"), metricsBinds);
        var backdata = ReadBackdata(customer.Section("backdata"), metricsBinds);
        var events = ReadEvents(customer.Section("events"));
        var tracking = ReadTracking(customer.Section("tracking"), metricsBinds);
        var suppression = ReadSuppression(customer.Section("suppression"));
        ReadRedisExporter(customer.Section("redis"), metricsBinds);
        var redis = ReadRedis(customer);
        customer.Section("common-config").Section("object-storage").ScalarEntries();

        global.WarnAboutUnknownKeys();
        customer.WarnAboutUnknownKeys();
        if (problems.Errors.Count > 0)
        {
            throw new ConfigException(problems.Errors);
        }

        var returnPathDomains = (transformer?.Domains ?? [])
            .Select(d => d.ReturnPathDomain)
            .Concat(mxServer?.ExtraDomains ?? [])
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .ToArray();

        var options = new MailerOptions
        {
            Queues = queues!,
            Storage = storage,
            Redis = redis,
            HttpReceiver = httpReceiver,
            Receiver = receiver,
            Transformer = transformer,
            Sender = sender!,
            MxServer = mxServer,
            Backdata = backdata,
            Events = events,
            Tracking = tracking,
            Suppression = suppression,
            MetricsBinds = metricsBinds,
            ReturnPathDomains = returnPathDomains,
        };
        return new LoadedConfig(options, problems.Warnings);
    }

    private static QueueNames? ReadQueueNames(ConfigFile global)
    {
        var names = global.Section("reliable-queue").Section("queue-names");
        var primary = names.String("primary-queue", required: true);
        var @default = names.String("default-queue", required: true);
        var events = global.Section("backdata").String("queue-name", required: true);
        var outbound = global.Section("postfix").String("incoming-queue-name", required: true);
        if (primary is null || @default is null || events is null || outbound is null)
        {
            return null;
        }
        var all = new[] { primary, @default, events, outbound };
        if (all.Distinct(StringComparer.Ordinal).Count() != all.Length)
        {
            global.RootSection.Error("(queue names)", "the four queue names must all differ");
        }
        return new QueueNames(primary, @default, outbound, events);
    }

    private static HttpReceiverOptions? ReadHttpReceiver(YamlSection section)
    {
        if (!section.Exists)
        {
            return null;
        }
        var bind = section.Section("bind");
        var host = bind.String("inet-interface", required: true);
        var port = bind.Port("inet-port", required: true);
        var metricsPort = bind.Port("inet-port-metrics", required: true);
        var logins = ReadLogins(section, required: true);
        ReadLegacyRedis(section);
        ReadPrometheus(section, null, "http-receiver");
        var maxSize = section.Int("max-message-size", min: 1024);
        var receiving = ReadReceivingBytes(section, maxSize);
        var maxHeaderRecipients = section.Int("max-header-recipients", min: 1);
        var inFlow = ReadInFlow(section);
        var address = ResolveBindAddress(bind, "inet-interface", host);
        if (address is null || port is null || metricsPort is null)
        {
            return null;
        }
        if (port == metricsPort && port != 0)
        {
            bind.Error("inet-port-metrics", "must differ from inet-port");
        }
        return new HttpReceiverOptions
        {
            Bind = new IPEndPoint(address, port.Value),
            MetricsBind = new IPEndPoint(address, metricsPort.Value),
            Logins = logins,
            MaxMessageSize = maxSize ?? 32 * 1024 * 1024,
            MaxReceivingBytes = receiving,
            MaxHeaderRecipients = maxHeaderRecipients ?? Ingress.HeaderRecipientLimit.Default,
            InFlow = inFlow,
        };
    }

    /// <summary>A receiver's flow control (<c>in-flow-delay-seconds</c>, <c>in-flow-queue-depth</c>,
    /// <c>in-flow-queue-megabytes</c>).</summary>
    private static InFlowSettings ReadInFlow(YamlSection section)
    {
        var defaults = InFlowSettings.Default;
        // Postfix caps in_flow_delay at 10 s; a minute still leaves every SMTP and HTTP client timeout far behind.
        var delay = section.Int("in-flow-delay-seconds", min: 0, max: 60);
        var depth = section.Int("in-flow-queue-depth", min: 1);
        var megabytes = section.Int("in-flow-queue-megabytes", min: 0, max: 1024 * 1024);
        return new InFlowSettings(delay is { } seconds ? TimeSpan.FromSeconds(seconds) : defaults.Delay, depth ?? defaults.QueueDepth,
            megabytes is { } mb ? mb * 1024L * 1024 : defaults.QueueBytes);
    }

    private static ReceiverOptions? ReadReceiver(YamlSection section, ConfigSources sources, List<MetricsBind> metrics)
    {
        if (!section.Exists)
        {
            return null;
        }
        var bind = ReadBind(section, "bind", required: true);
        var logins = ReadLogins(section, required: false);
        section.String("ignore-smtp-mail-from-rcpt-to");
        ReadLegacyRedis(section);
        ReadPrometheus(section, metrics, "receiver");
        var trusted = ReadNetworks(section, "trusted-networks");
        var maxSize = section.Int("max-message-size", min: 1024);
        var maxHeaderRecipients = section.Int("max-header-recipients", min: 1);
        var listener = ReadSmtpListener(section, maxSize);
        var inFlow = ReadInFlow(section);
        var cert = sources.TlsCertFile ?? section.Section("tls").String("cert-file");
        var key = sources.TlsKeyFile ?? section.Section("tls").String("key-file");
        if ((cert is null) != (key is null))
        {
            section.Error("tls", "give both the certificate and the key file, or neither (then a self-signed certificate is generated)");
        }
        foreach (var file in new[] { cert, key })
        {
            if (file is not null && !File.Exists(file))
            {
                section.Error("tls", $"file '{file}' does not exist");
            }
        }
        if (bind is null)
        {
            return null;
        }
        return new ReceiverOptions
        {
            Bind = bind,
            Logins = logins,
            TrustedNetworks = trusted,
            TlsCertificateFile = cert is null ? null : FullPath(cert),
            TlsKeyFile = key is null ? null : FullPath(key),
            MaxMessageSize = maxSize ?? 32 * 1024 * 1024,
            MaxHeaderRecipients = maxHeaderRecipients ?? Ingress.HeaderRecipientLimit.Default,
            Listener = listener,
            InFlow = inFlow,
        };
    }

    /// <summary>A list of networks in CIDR form (a bare address is its own /32 or /128).</summary>
    private static IReadOnlyList<IPNetwork> ReadNetworks(YamlSection section, string key)
    {
        var networks = new List<IPNetwork>();
        foreach (var text in section.StringList(key))
        {
            if (IPNetwork.TryParse(text.Trim(), out var network))
            {
                networks.Add(network);
            }
            else if (IPAddress.TryParse(text.Trim(), out var single))
            {
                networks.Add(new IPNetwork(single, single.AddressFamily == AddressFamily.InterNetwork ? 32 : 128));
            }
            else
            {
                section.Error(key, $"'{text}' is not a network in CIDR form (like 127.0.0.0/8)");
            }
        }
        return networks;
    }

    /// <summary>Bytes of bodies a listener receives at once (<c>max-receiving-megabytes</c>); it must hold at
    /// least one message of the section's <c>max-message-size</c>, or such a message could never be taken.</summary>
    /// <summary><c>max-receiving-megabytes</c>, or by default 256 MB but never less than one message of
    /// <c>max-message-size</c>: a default that could not hold the largest allowed message would refuse it with 452
    /// for ever.</summary>
    private static long ReadReceivingBytes(YamlSection section, int? maxMessageSize)
    {
        var messageSize = maxMessageSize ?? 32 * 1024 * 1024;
        if (section.Int("max-receiving-megabytes", min: 1, max: 1024 * 1024) is not { } megabytes)
        {
            return Math.Max(256L * 1024 * 1024, messageSize);
        }
        var bytes = megabytes * 1024L * 1024;
        if (bytes < messageSize)
        {
            section.Error("max-receiving-megabytes", $"{megabytes} MB cannot hold one message of max-message-size");
        }
        return bytes;
    }

    /// <summary>The SMTP listener limits shared by the receiver and mxserver sections.</summary>
    private static SmtpListenerSettings ReadSmtpListener(YamlSection section, int? maxMessageSize)
    {
        var defaults = new SmtpListenerSettings();
        var proxyProtocol = section.Bool("proxy-protocol") ?? false;
        var proxyFrom = ReadNetworks(section, "proxy-protocol-from");
        if (proxyProtocol && proxyFrom.Count == 0 && !section.Has("proxy-protocol-from"))
        {
            // Without it any peer could claim any client address, a trusted one included.
            section.Error("proxy-protocol-from", "is required when proxy-protocol is true: the networks of the load balancers (CIDR)");
        }
        else if (proxyProtocol && proxyFrom.Count == 0)
        {
            section.Error("proxy-protocol-from", "must name at least one network when proxy-protocol is true");
        }
        else if (!proxyProtocol && proxyFrom.Count > 0)
        {
            section.Warning("proxy-protocol-from", "has no effect without proxy-protocol: true");
        }
        var rateWindow = section.Int("min-data-rate-window-seconds", min: 1, max: 3600);
        return new SmtpListenerSettings
        {
            MaxSessions = section.Int("max-sessions", min: 1) ?? defaults.MaxSessions,
            MaxSessionsPerClient = section.Int("max-sessions-per-client", min: 1) ?? defaults.MaxSessionsPerClient,
            MaxRecipients = section.Int("max-recipients", min: 1) ?? defaults.MaxRecipients,
            MaxErrors = section.Int("max-errors", min: 1) ?? defaults.MaxErrors,
            MaxAuthFailures = section.Int("max-auth-failures", min: 1) ?? defaults.MaxAuthFailures,
            CommandTimeout = section.Int("command-timeout-seconds", min: 1) is { } command ? TimeSpan.FromSeconds(command) : defaults.CommandTimeout,
            DataTimeout = section.Int("data-timeout-seconds", min: 1) is { } data ? TimeSpan.FromSeconds(data) : defaults.DataTimeout,
            ProxyProtocol = proxyProtocol,
            ProxyProtocolFrom = proxyFrom,
            MaxSessionLifetime = section.Int("max-session-seconds", min: 1, max: 7 * 24 * 3600) is { } lifetime ? TimeSpan.FromSeconds(lifetime) : defaults.MaxSessionLifetime,
            MinDataRate = section.Int("min-data-rate", min: 0) ?? defaults.MinDataRate,
            DataRateWindow = rateWindow is { } window ? TimeSpan.FromSeconds(window) : defaults.DataRateWindow,
            MaxReceivingBytes = ReadReceivingBytes(section, maxMessageSize),
        };
    }

    private static TransformerOptions? ReadTransformer(YamlSection section, string? xMailer, List<MetricsBind> metrics)
    {
        if (!section.Exists)
        {
            return null;
        }
        var inject = section.Section("email-headers").Section("inject");
        if (!inject.Exists)
        {
            section.Error("email-headers/inject", "is required (at least List-Unsubscribe)");
        }
        var injectHeaders = inject.ScalarEntries();
        ReadLegacyRedis(section);
        ReadPrometheus(section, metrics, "transformer");
        var domains = new List<DomainSettings>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in section.SectionList("domain-settings"))
        {
            var domain = item.String("domain", required: true);
            var keyFile = item.String("dkim-private-key-file", required: true);
            var returnPath = item.String("return-path-domain", required: true);
            var selector = item.String("selector") ?? "mailer";
            var beacon = item.String("beacon-url");
            if (domain is null || keyFile is null || returnPath is null)
            {
                continue;
            }
            if (!seen.Add(domain))
            {
                item.Error("domain", $"'{domain}' is configured twice");
            }
            if (!File.Exists(keyFile))
            {
                item.Error("dkim-private-key-file", $"file '{keyFile}' does not exist");
            }
            if (!IsDomainName(returnPath))
            {
                item.Error("return-path-domain", $"'{returnPath}' is not a domain name");
            }
            var (notBefore, notAfter) = ReadKeyWindow(item);
            domains.Add(new DomainSettings
            {
                DkimNotBefore = notBefore,
                DkimNotAfter = notAfter,
                ConfigKey = $"{item.FileName}: {item.Path}",
                ExtraDkimKeys = ReadExtraDkimKeys(item, selector),
                // The original compared the lower-cased From domain with the key as written, so a key with
                // capitals never matched; we compare case-insensitively.
                Domain = domain.Trim().TrimEnd('.').ToLowerInvariant(),
                DkimPrivateKeyFile = FullPath(keyFile),
                ReturnPathDomain = returnPath.Trim().TrimEnd('.').ToLowerInvariant(),
                Selector = selector,
                BeaconUrl = beacon,
            });
        }
        var feedback = section.Section("feedback-id");
        return new TransformerOptions
        {
            XMailer = xMailer,
            InjectHeaders = injectHeaders,
            Domains = domains,
            FeedbackCampaignId = feedback.String("campaign-id"),
            FeedbackMailType = feedback.String("mail-type"),
            FeedbackSenderId = feedback.String("sender-id"),
        };
    }

    /// <summary>domain-settings[]/extra-dkim-keys: more keys of the domain, each signing too; a selector names
    /// one key of the domain only.</summary>
    private static IReadOnlyList<DkimKeySettings> ReadExtraDkimKeys(YamlSection domain, string mainSelector)
    {
        var keys = new List<DkimKeySettings>();
        var selectors = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { mainSelector };
        foreach (var item in domain.SectionList("extra-dkim-keys"))
        {
            var selector = item.String("selector", required: true);
            var keyFile = item.String("private-key-file", required: true);
            var (notBefore, notAfter) = ReadKeyWindow(item);
            if (selector is null || keyFile is null)
            {
                continue;
            }
            if (!selectors.Add(selector))
            {
                item.Error("selector", $"'{selector}' is already a selector of this domain; each key needs its own");
            }
            if (!File.Exists(keyFile))
            {
                item.Error("private-key-file", $"file '{keyFile}' does not exist");
            }
            keys.Add(new DkimKeySettings(selector, FullPath(keyFile), $"{item.FileName}: {item.KeyPath("private-key-file")}")
            {
                NotBefore = notBefore,
                NotAfter = notAfter,
            });
        }
        return keys;
    }

    /// <summary>not-before / not-after: RFC 3339 dates (a full-date alone is midnight UTC).</summary>
    private static (DateTimeOffset? NotBefore, DateTimeOffset? NotAfter) ReadKeyWindow(YamlSection item)
    {
        var notBefore = ReadRfc3339(item, "not-before");
        var notAfter = ReadRfc3339(item, "not-after");
        if (notBefore is { } start && notAfter is { } end && end < start)
        {
            item.Error("not-after", $"{end:O} is before not-before {start:O}: the key would never sign");
        }
        return (notBefore, notAfter);
    }

    private static readonly string[] Rfc3339Formats =
    [
        "yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", "yyyy-MM-dd' 'HH:mm:ssK", "yyyy-MM-dd",
    ];

    private static DateTimeOffset? ReadRfc3339(YamlSection item, string key)
    {
        var text = item.String(key);
        if (text is null)
        {
            return null;
        }
        if (!DateTimeOffset.TryParseExact(text.Trim(), Rfc3339Formats, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var moment))
        {
            item.Error(key, $"'{text}' is not an RFC 3339 date (2026-03-01 or 2026-03-01T00:00:00Z)");
            return null;
        }
        return moment;
    }

    private static SenderOptions? ReadSender(YamlSection section, YamlSection postfixlog, List<MetricsBind> metrics)
    {
        // The original's Postfix module: its keys are read (and mostly meaningless now that we deliver ourselves).
        postfixlog.String("logfile");
        ReadLegacyRedis(postfixlog);
        var postfix = postfixlog.Section("postfix");
        postfix.String("hostname");
        postfix.Port("port");
        ReadPrometheus(postfixlog, metrics, "sender");
        var replacer = postfixlog.Section("string-replacer");
        var mainCf = replacer.Section("main-cf");
        var entries = mainCf.ScalarEntries();
        replacer.Section("master-cf").ScalarEntries();
        var myHostname = entries.FirstOrDefault(e => e.Key == "myhostname").Value
            ?? postfixlog.Section("main-cf").String("myhostname");

        IReadOnlyList<string>? dnsServers = section.Has("dns-servers") ? section.StringList("dns-servers") : null;
        var port = section.Port("smtp-port");
        var helo = section.String("helo-name") ?? myHostname ?? SafeHostName();
        var concurrency = section.Int("max-concurrent-deliveries", min: 1, max: 10000);
        var memory = section.Int("max-delivery-memory-megabytes", min: 1, max: 1024 * 1024);
        var firstRetry = section.Int("first-retry-seconds", min: 1);
        var maxRetry = section.Int("max-retry-seconds", min: 1);
        var lifetime = section.Int("max-queue-lifetime-seconds", min: 1);
        var lease = section.Int("lease-seconds", min: 3);
        var sink = section.Bool("sink") ?? false;
        ReadPrometheus(section, metrics, "sender");
        if (!IsDomainName(helo))
        {
            section.Error("helo-name", $"'{helo}' is not a host name");
        }
        return new SenderOptions
        {
            DnsServers = dnsServers,
            SmtpPort = port ?? 25,
            HeloName = helo,
            MaxConcurrentDeliveries = concurrency ?? 100,
            MaxDeliveryMemoryBytes = (memory ?? 256) * 1024L * 1024,
            FirstRetryDelay = firstRetry is { } f ? TimeSpan.FromSeconds(f) : TimeSpan.FromMinutes(5),
            MaxRetryDelay = maxRetry is { } m ? TimeSpan.FromSeconds(m) : TimeSpan.FromHours(4),
            MaxQueueLifetime = lifetime is { } l ? TimeSpan.FromSeconds(l) : TimeSpan.FromHours(12),
            Lease = lease is { } leaseSeconds ? TimeSpan.FromSeconds(leaseSeconds) : TimeSpan.FromMinutes(30),
            Delivery = Roles.Sender.DeliveryOptionsReader.Read(section),
            Sink = sink,
            TransportSecurity = ReadTransportSecurity(section),
        };
    }

    private static MxServerOptions? ReadMxServer(YamlSection section, List<MetricsBind> metrics)
    {
        if (!section.Exists)
        {
            return null;
        }
        var bind = ReadBind(section, "bind", required: true);
        var directory = section.String("eml-directory", required: true);
        var yahoo = section.Section("abuse").Section("yahoo").String("to");
        var extra = section.StringList("domains");
        var maxSize = section.Int("max-message-size", min: 1024);
        var emlMaxMegabytes = section.Int("eml-max-megabytes", min: 0);
        var emlRetentionDays = section.Int("eml-retention-days", min: 0);
        var forwarding = Roles.MxServer.ForwardingOptionsReader.Read(section.Section("forwarding"),
            ReadBind(section.Section("forwarding"), "http-bind", required: false));
        var listener = ReadSmtpListener(section, maxSize);
        var inboundRoutes = Inbound.InboundRoutesReader.Read(section);
        var inboundFirstRetry = section.Int("inbound-first-retry-seconds", min: 1);
        var inboundMaxRetry = section.Int("inbound-max-retry-seconds", min: 1);
        if (inboundMaxRetry < (inboundFirstRetry ?? 30))
        {
            section.Error("inbound-max-retry-seconds", $"{inboundMaxRetry} is shorter than inbound-first-retry-seconds ({inboundFirstRetry ?? 30})");
        }
        var feedbackLoops = ReadFeedbackLoops(section);
        var suppressUnauthenticated = section.Bool("suppress-unauthenticated");
        var publicSuffixList = section.String("public-suffix-list");
        var reportTimeout = section.Int("report-authentication-timeout-seconds", min: 1, max: 300);
        ReadLegacyRedis(section);
        ReadPrometheus(section, metrics, "mx-server");
        if (bind is null || directory is null)
        {
            return null;
        }
        return new MxServerOptions
        {
            Bind = bind,
            EmlDirectory = FullPath(directory),
            YahooAbuseAddress = yahoo,
            ExtraDomains = extra.Select(d => d.Trim().TrimEnd('.').ToLowerInvariant()).ToArray(),
            MaxMessageSize = maxSize ?? 32 * 1024 * 1024,
            Listener = listener,
            EmlMaxBytes = (emlMaxMegabytes ?? 1024) * 1024L * 1024,
            EmlRetention = TimeSpan.FromDays(emlRetentionDays ?? 30),
            Forwarding = forwarding,
            InboundRoutes = inboundRoutes,
            InboundFirstRetry = TimeSpan.FromSeconds(inboundFirstRetry ?? 30),
            InboundMaxRetry = TimeSpan.FromSeconds(inboundMaxRetry ?? 3600),
            FeedbackLoops = feedbackLoops,
            SuppressUnauthenticated = suppressUnauthenticated ?? false,
            PublicSuffixList = publicSuffixList is { Length: > 0 } path ? FullPath(path) : ReportAuthentication.PublicSuffixList.DefaultPath,
            ReportAuthenticationTimeout = TimeSpan.FromSeconds(reportTimeout ?? 15),
        };
    }

    /// <summary><c>mxserver/feedback-loops: [{domain: ...}]</c>: each entry's reporting domain, lower case.</summary>
    private static IReadOnlyList<string> ReadFeedbackLoops(YamlSection mxServer)
    {
        var domains = new List<string>();
        foreach (var entry in mxServer.SectionList("feedback-loops"))
        {
            var domain = entry.String("domain", required: true)?.Trim().TrimEnd('.').ToLowerInvariant();
            if (domain is null)
            {
                continue;
            }
            if (domain.Length == 0 || domain.Contains('@') || !domain.Contains('.') || domain.Any(char.IsWhiteSpace))
            {
                entry.Error("domain", $"'{domain}' is not a domain name (e.g. fbl.example.net)");
                continue;
            }
            domains.Add(domain);
        }
        return domains;
    }

    private static BackdataOptions? ReadBackdata(YamlSection section, List<MetricsBind> metrics)
    {
        if (!section.Exists)
        {
            return null;
        }
        // Without post-url events are only stored (the local configuration has no webhook to post to).
        var url = section.String("post-url");
        ReadLegacyRedis(section);
        ReadPrometheus(section, metrics, "backdata");
        var manager = section.Section("bounce-manager");
        if (manager.Exists)
        {
            manager.String("cid");
            manager.String("secret");
            manager.String("url");
            section.Warning("bounce-manager", "the bounce manager copy is not supported; events go to post-url only");
        }
        if (url is null)
        {
            return section.IsExplicitNull("post-url") || !section.Has("post-url")
                ? new BackdataOptions { PostUrl = null, EventTypes = BackdataEventTypes.Read(section) }
                : null;
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            section.Error("post-url", $"'{url}' is not an http(s) URL");
            return null;
        }
        return BackdataWebhookSettings.Read(section, new BackdataOptions { PostUrl = uri, EventTypes = BackdataEventTypes.Read(section) });
    }

    private static EventsOptions ReadEvents(YamlSection section)
    {
        var kind = section.String("store")?.Trim() ?? "sqlite";
        if (kind is not ("sqlite" or "postgresql"))
        {
            section.Error("store", $"'{kind}' is not an event store; use 'sqlite' or 'postgresql'");
        }
        var postgresql = EventsPostgresql.Read(section, kind == "postgresql");
        var retention = section.Int("retention-days", min: 1);
        return new EventsOptions { RetentionDays = retention ?? EventsOptions.DefaultRetentionDays, Postgresql = postgresql };
    }

    private static void ReadRedisExporter(YamlSection section, List<MetricsBind> metrics)
    {
        if (section.Exists)
        {
            ReadLegacyRedis(section);
            ReadPrometheus(section, metrics, "redis");
        }
    }

    private static RedisOptions ReadRedis(ConfigFile customer)
    {
        // Each original module had its own copy of the Redis address; the first one given wins.
        foreach (var role in new[] { "transformer", "receiver", "httpreceiver", "postfixlog", "mxserver", "backdata", "redis", "tracking" })
        {
            var redis = customer.Section(role).Section("reliable-queue").Section("redis");
            if (redis.Exists)
            {
                var username = redis.String("username");
                var password = redis.String("password");
                if (username is not null && password is null)
                {
                    redis.Error("username", "a Redis username needs a password");
                }
                return new RedisOptions(redis.String("hostname") ?? "localhost", redis.Port("port") ?? 6379)
                {
                    Username = username,
                    Password = password,
                    Tls = redis.Bool("tls") ?? false,
                    Database = redis.Int("db", min: 0) ?? 0,
                    Lease = TimeSpan.FromSeconds(redis.Int("lease-seconds", min: 3) ?? 30),
                    Configured = true,
                };
            }
        }
        return new RedisOptions("localhost", 6379);
    }

    private static void ReadLegacyRedis(YamlSection section)
    {
        var redis = section.Section("reliable-queue").Section("redis");
        redis.String("hostname");
        redis.Port("port");
        // Marked as read here; validated once, in ReadRedis, for the section whose values are used.
        redis.String("username");
        redis.String("password");
        redis.String("tls");
        redis.String("db");
        redis.String("lease-seconds");
    }

    private static void ReadPrometheus(YamlSection section, List<MetricsBind>? metrics, string role)
    {
        var bind = ReadBind(section, "prometheus", required: false);
        if (bind is not null && metrics is not null)
        {
            metrics.Add(new MetricsBind(role, bind));
        }
    }

    private static IPEndPoint? ReadBind(YamlSection parent, string key, bool required)
    {
        var section = parent.Section(key);
        if (!section.Exists)
        {
            if (required)
            {
                parent.Error(key, "is required (inet-interface and inet-port)");
            }
            return null;
        }
        var host = section.String("inet-interface", required: true);
        var port = section.Port("inet-port", required: true);
        var address = ResolveBindAddress(section, "inet-interface", host);
        return address is null || port is null ? null : new IPEndPoint(address, port.Value);
    }

    private static IPAddress? ResolveBindAddress(YamlSection section, string key, string? host)
    {
        if (host is null)
        {
            return null;
        }
        host = host.Trim();
        if (IPAddress.TryParse(host, out var address))
        {
            return address;
        }
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            return IPAddress.Loopback;
        }
        try
        {
            var addresses = System.Net.Dns.GetHostAddresses(host);
            if (addresses.Length > 0)
            {
                return addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses[0];
            }
        }
        catch (SocketException)
        {
            // reported below
        }
        section.Error(key, $"'{host}' is neither an IP address nor a resolvable host name");
        return null;
    }

    private static IReadOnlyList<Credential> ReadLogins(YamlSection section, bool required)
    {
        if (required && !section.Has("auth-logins"))
        {
            section.Error("auth-logins", "is required (a list of username/password pairs)");
        }
        var byName = new Dictionary<string, Credential>(StringComparer.Ordinal);
        foreach (var login in section.SectionList("auth-logins"))
        {
            var user = login.String("username", required: true);
            var password = login.String("password", required: true);
            if (user is not null && password is not null)
            {
                // As in the original, a repeated username: the last entry wins.
                byName[user] = new Credential(user, password, TenantKey.Read(login));
            }
        }
        return byName.Values.ToArray();
    }

    private static bool IsDomainName(string text) =>
        text.Length is > 0 and <= 253 && Uri.CheckHostName(text.TrimEnd('.')) == UriHostNameType.Dns;

    private static string FullPath(string path) => Path.GetFullPath(path);

    private static string SafeHostName()
    {
        try
        {
            var name = System.Net.Dns.GetHostName();
            return string.IsNullOrWhiteSpace(name) ? "localhost" : name.ToLower(CultureInfo.InvariantCulture);
        }
        catch (SocketException)
        {
            return "localhost";
        }
    }
}
