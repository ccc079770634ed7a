using ManycoreMail.Config;
using ManycoreMail.Hosting;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.IntegrationTests;

/// <summary>A mailer started in-process from YAML files, as <c>mailer run</c> would.</summary>
public sealed class RunningMailer : IAsyncDisposable
{
    private readonly MailerHost _host;
    private readonly ILoggerFactory _loggers;

    private RunningMailer(MailerHost host, ILoggerFactory loggers)
    {
        _host = host;
        _loggers = loggers;
    }

    internal MailerHost Host => _host;

    public static Task<RunningMailer> StartAsync(MailerConfig config, IReadOnlyCollection<string>? roles = null) =>
        StartAsync(config, options => options, roles);

    /// <summary>Started from the files with <paramref name="adjust"/> applied to the options they load to (for what the
    /// files cannot say yet, or limits too large to reach in a test).</summary>
    internal static async Task<RunningMailer> StartAsync(MailerConfig config, Func<MailerOptions, MailerOptions> adjust, IReadOnlyCollection<string>? roles = null,
        QueueBackend queue = QueueBackend.Embedded)
    {
        var files = ConfigLoader.Load(new ConfigSources(config.GlobalFile, config.CustomerFile));
        var loaded = files with { Options = adjust(files.Options) };
        var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole(o => o.SingleLine = true));
        var host = new MailerHost(loaded.Options, loggers, TimeProvider.System) { Queue = queue };
        try
        {
            await host.StartAsync(roles ?? MailerHost.ConfiguredRoles(loaded.Options), CancellationToken.None);
        }
        catch
        {
            await host.DisposeAsync();
            loggers.Dispose();
            throw;
        }
        return new RunningMailer(host, loggers);
    }

    public Task<string> MetricsAsync() => _host.Metrics.RenderAsync(CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await _host.StopAsync(deadline.Token);
        await _host.DisposeAsync();
        _loggers.Dispose();
    }
}
