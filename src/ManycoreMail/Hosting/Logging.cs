using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace ManycoreMail.Hosting;

internal static class Logging
{
    /// <summary>One line per entry with a UTC timestamp; level from MAILER_LOG_LEVEL (or the original's
    /// INBOXBOOSTER_LOG_LEVEL), Information by default. MAILER_LOG_FORMAT=json: one JSON object per line instead
    /// (<see cref="JsonLineFormatter"/>).</summary>
    public static ILoggerFactory Create()
    {
        var levelText = Environment.GetEnvironmentVariable("MAILER_LOG_LEVEL") ?? Environment.GetEnvironmentVariable("INBOXBOOSTER_LOG_LEVEL");
        var level = levelText?.ToUpperInvariant() switch
        {
            "TRACE" => LogLevel.Trace,
            "DEBUG" => LogLevel.Debug,
            "WARNING" or "WARN" => LogLevel.Warning,
            "ERROR" => LogLevel.Error,
            "CRITICAL" => LogLevel.Critical,
            _ => LogLevel.Information,
        };
        var json = string.Equals(Environment.GetEnvironmentVariable("MAILER_LOG_FORMAT")?.Trim(), "json", StringComparison.OrdinalIgnoreCase);
        return LoggerFactory.Create(builder =>
        {
            builder.SetMinimumLevel(level).AddFilter("Microsoft", LogLevel.Warning);
            if (json)
            {
                builder.AddConsole(options => options.FormatterName = JsonLineFormatter.FormatterName)
                    .AddConsoleFormatter<JsonLineFormatter, ConsoleFormatterOptions>();
                return;
            }
            builder.AddSimpleConsole(options =>
            {
                options.SingleLine = true;
                options.UseUtcTimestamp = true;
                options.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                options.ColorBehavior = LoggerColorBehavior.Disabled;
            });
        });
    }
}
