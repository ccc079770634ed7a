using System.CommandLine;
using System.Runtime.InteropServices;
using ManycoreMail.Config;
using ManycoreMail.Delivery;
using ManycoreMail.Hosting;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Cli;

/// <summary>The <c>mailer</c> command line: <c>run</c> (any set of roles) and one command per role,
/// each taking the original system's flags.</summary>
internal static class MailerCli
{
    public static RootCommand Build()
    {
        var root = new RootCommand("Manycore Mail: a mail transfer agent and email service platform.");
        var run = new Command("run", "Run every configured role (or --roles) in one process (on the embedded spool, or --queue redis).");
        var roles = new Option<string?>("--roles") { Description = "Comma-separated roles to run: " + string.Join(", ", RoleNames.All) };
        AddConfigOptions(run, out var config);
        run.Options.Add(roles);
        var runQueue = AddQueueOption(run, "embedded");
        run.SetAction((parse, ct) => RunAsync(parse, config(parse), parse.GetValue(roles)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            _ => new RoleQueueChoice(parse.GetValue(runQueue) == "redis" ? QueueBackend.Redis : QueueBackend.Embedded, null), ct));
        root.Subcommands.Add(run);

        foreach (var role in RoleNames.All)
        {
            var command = new Command(role, $"Run only the {role} role.");
            AddConfigOptions(command, out var roleConfig);
            var roleQueue = AddQueueOption(command, null);
            command.SetAction((parse, ct) => RunAsync(parse, roleConfig(parse), [role],
                options => RoleQueueChoice.For(role, parse.GetValue(roleQueue), options.Redis), ct));
            root.Subcommands.Add(command);
        }

        var redisMetrics = new Command("redis-metrics", "Serve the queue gauges (LLEN of each queue on Redis) on redis/prometheus, as the original Redis exporter.");
        AddConfigOptions(redisMetrics, out var redisMetricsConfig);
        redisMetrics.SetAction((parse, ct) => RunAsync(parse, redisMetricsConfig(parse), null, _ => new RoleQueueChoice(QueueBackend.Redis, null), ct, redisMetricsOnly: true));
        root.Subcommands.Add(redisMetrics);

        var check = new Command("check-config", "Load and validate the configuration, print every problem, and exit.");
        AddConfigOptions(check, out var checkConfig);
        check.SetAction(parse => CheckConfig(checkConfig(parse)));
        root.Subcommands.Add(check);

        var classify = new Command("classify", "Classify received mails (bounce, feedback, autoreply, unsubscribe, other) exactly as the MX server does; one JSON line per file.");
        var files = new Argument<string[]>("PATH") { Arity = ArgumentArity.OneOrMore, Description = "Mail files (.eml), or folders of them" };
        classify.Arguments.Add(files);
        classify.SetAction(parse => Roles.MxServer.ClassifyCommand.Run(parse.GetValue(files) ?? [], Console.Out, Console.Error,
            new Roles.MxServer.ClassifyProgress(Console.Error, terminal: !Console.IsErrorRedirected)));
        root.Subcommands.Add(classify);

        root.Subcommands.Add(Events.EventsCommand.AddListing(Events.DeadLetterCommand.Build(AddLoadedConfig), AddLoadedConfig));
        root.Subcommands.Add(Suppressions.SuppressionsCommand.Build(AddLoadedConfig));
        root.Subcommands.Add(SendCommand.Build(AddLoadedConfig));
        root.Subcommands.Add(DkimKeygenCommand.Build(AddConfigSources));
        root.Subcommands.Add(DnsCheckCommand.Build(AddLoadedConfig));

        foreach (var admin in Roles.Sender.AdminCommands.Build(AddAdminConfig))
        {
            root.Subcommands.Add(admin);
        }
        return root;
    }

    /// <summary>Commands that work on the queues read the usual config files; a bad one throws <see cref="ConfigException"/>.</summary>
    private static Func<ParseResult, MailerOptions> AddLoadedConfig(Command command)
    {
        AddConfigOptions(command, out var config);
        return parse =>
        {
            using var loggers = Logging.Create();
            return Load(config(parse), loggers.CreateLogger("ManycoreMail")).Options;
        };
    }

    /// <summary>Commands that read the files themselves (dkim keygen, before the key file they name exists); null: the built-in configuration.</summary>
    private static Func<ParseResult, ConfigSources?> AddConfigSources(Command command)
    {
        AddConfigOptions(command, out var sources);
        return sources;
    }

    /// <summary>The operations commands read sender/admin (bind and token) from the usual config files.</summary>
    private static Func<ParseResult, Delivery.AdminOptions?> AddAdminConfig(Command command)
    {
        AddConfigOptions(command, out var config);
        return parse =>
        {
            using var loggers = Logging.Create();
            try
            {
                return Load(config(parse), loggers.CreateLogger("ManycoreMail")).Options.Sender.Delivery.Admin;
            }
            catch (ConfigException)
            {
                return null;
            }
        };
    }

    /// <param name="defaultValue">embedded for <c>run</c>; none for a single-role command, which takes Redis when
    /// the configuration names it and otherwise refuses (see <see cref="RoleQueueChoice"/>).</param>
    private static Option<string?> AddQueueOption(Command command, string? defaultValue)
    {
        var queue = new Option<string?>("--queue")
        {
            Description = defaultValue is null
                ? "Queue store: redis (reliable-queue/redis; the default when configured, and required: a role alone in its process must share its queues)"
                : "Queue store: embedded (the SQLite spool in storage/path, one process) or redis (reliable-queue/redis, one process per role or more)",
        };
        if (defaultValue is not null)
        {
            queue.DefaultValueFactory = _ => defaultValue;
        }
        queue.AcceptOnlyFromAmong("embedded", "redis");
        command.Options.Add(queue);
        return queue;
    }

    private static void AddConfigOptions(Command command, out Func<ParseResult, ConfigSources?> read)
    {
        var global = new Option<string?>("--global-config-file") { Description = "inboxbooster-mailer-global.yaml (default /configs/...)" };
        var customer = new Option<string?>("--customer-config-file") { Description = "inboxbooster-mailer-customer.yaml (default /configs/...)" };
        var cert = new Option<string?>("--tls-cert-filename") { Description = "PEM certificate for STARTTLS (default: self-signed, generated once)" };
        var key = new Option<string?>("--tls-key-filename") { Description = "PEM private key for --tls-cert-filename" };
        command.Options.Add(global);
        command.Options.Add(customer);
        command.Options.Add(cert);
        command.Options.Add(key);
        read = parse => ResolveSources(parse.GetValue(global), parse.GetValue(customer), parse.GetValue(cert), parse.GetValue(key));
    }

    /// <summary>Explicit files, else /configs when it has both, else null (the built-in local configuration).</summary>
    private static ConfigSources? ResolveSources(string? global, string? customer, string? cert, string? key)
    {
        if (global is null && customer is null)
        {
            var defaultGlobal = Path.Combine(LocalDefaults.DefaultConfigDirectory, LocalDefaults.GlobalFileName);
            var defaultCustomer = Path.Combine(LocalDefaults.DefaultConfigDirectory, LocalDefaults.CustomerFileName);
            if (!File.Exists(defaultGlobal) || !File.Exists(defaultCustomer))
            {
                return cert is null && key is null ? null : new ConfigSources("", "", cert, key);
            }
            global = defaultGlobal;
            customer = defaultCustomer;
        }
        return new ConfigSources(
            global ?? Path.Combine(LocalDefaults.DefaultConfigDirectory, LocalDefaults.GlobalFileName),
            customer ?? Path.Combine(LocalDefaults.DefaultConfigDirectory, LocalDefaults.CustomerFileName),
            cert, key);
    }

    private static LoadedConfig Load(ConfigSources? sources, ILogger logger)
    {
        if (sources is null || sources.GlobalFile.Length == 0)
        {
            logger.LogInformation("No configuration given and none in {Directory}: using the built-in local configuration", LocalDefaults.DefaultConfigDirectory);
            LocalDefaults.Prepare();
            return ConfigLoader.Parse(LocalDefaults.GlobalYaml, LocalDefaults.CustomerYaml, "(built-in global)", "(built-in customer)");
        }
        return ConfigLoader.Load(sources);
    }

    private static string ConfigArguments(ConfigSources? sources) =>
        sources is null || sources.GlobalFile.Length == 0 ? "" : $" --global-config-file {sources.GlobalFile} --customer-config-file {sources.CustomerFile}";

    private static int CheckConfig(ConfigSources? sources)
    {
        using var loggers = Logging.Create();
        var logger = loggers.CreateLogger("ManycoreMail");
        try
        {
            var loaded = Load(sources, logger);
            foreach (var warning in loaded.Warnings)
            {
                logger.LogWarning("{Warning}", warning);
            }
            Console.WriteLine("Configuration is valid.");
            return 0;
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
    }

    private static async Task<int> RunAsync(ParseResult parse, ConfigSources? sources, IReadOnlyCollection<string>? roles, Func<MailerOptions, RoleQueueChoice> chooseQueue,
        CancellationToken cancellationToken, bool redisMetricsOnly = false)
    {
        using var loggers = Logging.Create();
        var logger = loggers.CreateLogger("ManycoreMail");
        LoadedConfig loaded;
        try
        {
            loaded = Load(sources, logger);
        }
        catch (ConfigException e)
        {
            logger.LogCritical("{Problems}", e.Message);
            return 2;
        }
        foreach (var warning in loaded.Warnings)
        {
            logger.LogWarning("{Warning}", warning);
        }
        var unknown = roles?.Where(r => !RoleNames.All.Contains(r)).ToArray() ?? [];
        if (unknown.Length > 0)
        {
            logger.LogCritical("Unknown role(s): {Roles}; known roles: {Known}", string.Join(", ", unknown), string.Join(", ", RoleNames.All));
            return 2;
        }
        var queue = chooseQueue(loaded.Options);
        if (queue.Backend is not { } backend)
        {
            // On stderr, not in the log: it answers the command the operator just typed, before anything runs.
            await parse.InvocationConfiguration.Error.WriteLineAsync(queue.Refusal).ConfigureAwait(false);
            return 2;
        }

        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stopping.Cancel();
        });
        using var sigquit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, context =>
        {
            // The original's preStop scripts send SIGQUIT.
            context.Cancel = true;
            stopping.Cancel();
        });

        var host = new MailerHost(loaded.Options, loggers, TimeProvider.System) { Queue = backend };
        await using (host.ConfigureAwait(false))
        {
            try
            {
                if (redisMetricsOnly)
                {
                    await host.StartRedisMetricsAsync(stopping.Token).ConfigureAwait(false);
                }
                else
                {
                    await host.StartAsync(roles ?? MailerHost.ConfiguredRoles(loaded.Options), stopping.Token).ConfigureAwait(false);
                    if (loaded.Options.Sender.Sink)
                    {
                        await Console.Out.WriteLineAsync(SinkModeBanner.Text(loaded.Options, ConfigArguments(sources))).ConfigureAwait(false);
                    }
                }
            }
            catch (ConfigException e)
            {
                logger.LogCritical("{Problems}", e.Message);
                return 2;
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or Queue.QueueStoreException)
            {
                logger.LogCritical(e, "Could not start: {Error}", e.Message);
                return 1;
            }
            try
            {
                await Task.Delay(Timeout.Infinite, stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                logger.LogInformation("Shutting down");
            }
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await host.StopAsync(deadline.Token).ConfigureAwait(false);
        }
        return 0;
    }
}
