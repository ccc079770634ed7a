using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace ManycoreMail.Hosting;

internal static class Logging
{
    /// <summary>One line per entry with a UTC timestamp; level from MAILER_LOG_LEVEL (or the original's
    /// INBOXBOOSTER_LOG_LEVEL), Information by default.</summary>
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
        return LoggerFactory.Create(builder => builder
            .SetMinimumLevel(level)
            .AddFilter("Microsoft", LogLevel.Warning)
            .AddSimpleConsole(options =>
            {
                options.SingleLine = true;
                options.UseUtcTimestamp = true;
                options.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                options.ColorBehavior = LoggerColorBehavior.Disabled;
            }));
    }
}
