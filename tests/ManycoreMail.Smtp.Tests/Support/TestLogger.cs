using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Smtp.Tests.Support;

/// <summary>Keeps warnings and errors so tests can assert the server logged no failure.</summary>
public sealed class TestLogger : ILogger
{
    public ConcurrentQueue<(LogLevel Level, string Message, Exception? Exception)> Entries { get; } = new();

    public IEnumerable<(LogLevel Level, string Message, Exception? Exception)> Errors =>
        Entries.Where(e => e.Level >= LogLevel.Error);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    /// <summary>The lowest level kept; Trace to see the session transcript.</summary>
    public LogLevel MinimumLevel { get; init; } = LogLevel.Information;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= MinimumLevel;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            Entries.Enqueue((logLevel, formatter(state, exception), exception));
        }
    }
}
