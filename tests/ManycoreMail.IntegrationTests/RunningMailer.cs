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

    public static async Task<RunningMailer> StartAsync(MailerConfig config, IReadOnlyCollection<string>? roles = null)
    {
        var loaded = ConfigLoader.Load(new ConfigSources(config.GlobalFile, config.CustomerFile));
        var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole(o => o.SingleLine = true));
        var host = new MailerHost(loaded.Options, loggers, TimeProvider.System);
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
