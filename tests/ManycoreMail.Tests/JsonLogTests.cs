using System.Text.Json;
using ManycoreMail.Delivery;
using ManycoreMail.Hosting;
using ManycoreMail.Roles.Sender;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.Tests;

/// <summary><c>MAILER_LOG_FORMAT=json</c>: each entry one JSON object on one line with timestamp, level, category,
/// message and the structured fields in camelCase; the sender's outcome line carries the maillog fields.</summary>
public sealed class JsonLogTests
{
    [Fact]
    public void A_delivered_recipient_is_one_json_line_with_every_maillog_field()
    {
        var logger = new FormattingLogger("ManycoreMail.Roles.Sender.SenderRole");
        var delivered = new RecipientOutcome.Delivered("rcpt@example.test", "192.0.2.7") { MxHost = "mx1.example.test", Reply = "250 2.0.0 Ok: queued as 1A2B" };

        RecipientOutcomeLog.Write(logger, "uuid-1", "example.test", delivered, [], TimeSpan.FromSeconds(2.5));

        var line = Assert.Single(logger.Lines);
        Assert.DoesNotContain('\n', line.TrimEnd('\n'));
        var json = JsonDocument.Parse(line).RootElement;
        Assert.True(DateTimeOffset.TryParse(json.GetProperty("timestamp").GetString(), out _));
        Assert.Equal("information", json.GetProperty("level").GetString());
        Assert.Equal("ManycoreMail.Roles.Sender.SenderRole", json.GetProperty("category").GetString());
        Assert.Contains("to=<rcpt@example.test>", json.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("delivered", json.GetProperty("status").GetString());
        Assert.Equal("uuid-1", json.GetProperty("uuid").GetString());
        Assert.Equal("rcpt@example.test", json.GetProperty("recipient").GetString());
        Assert.Equal("example.test", json.GetProperty("site").GetString());
        Assert.Equal("mx1.example.test", json.GetProperty("mxHost").GetString());
        Assert.Equal("192.0.2.7", json.GetProperty("ip").GetString());
        Assert.Equal("250 2.0.0 Ok: queued as 1A2B", json.GetProperty("reply").GetString());
        Assert.Equal(2.5, json.GetProperty("delay").GetDouble());
        Assert.False(json.TryGetProperty("{OriginalFormat}", out _));
    }

    [Fact]
    public void A_deferred_recipient_past_its_lifetime_is_logged_as_bounced_with_the_expiry_reason()
    {
        var logger = new FormattingLogger("sender");
        var deferred = new RecipientOutcome.Deferred("late@example.test", "host mx[192.0.2.7] said: 451 later", SiteAnswered: true) { MxHost = "mx", Reply = "451 later" };
        var expired = new RecipientOutcome.Bounced("late@example.test", "soft", "expired after 5.00:00:00; last error: 451 later", null);

        RecipientOutcomeLog.Write(logger, "uuid-2", "example.test", deferred, [expired], TimeSpan.FromDays(5));

        var json = JsonDocument.Parse(Assert.Single(logger.Lines)).RootElement;
        Assert.Equal("bounced", json.GetProperty("status").GetString());
        Assert.StartsWith("expired after", json.GetProperty("reply").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void An_exception_is_a_member_of_the_same_line()
    {
        var logger = new FormattingLogger("c");

        logger.LogError(new InvalidOperationException("boom"), "Delivering message {Id} failed", 42L);

        var json = JsonDocument.Parse(Assert.Single(logger.Lines)).RootElement;
        Assert.Equal("error", json.GetProperty("level").GetString());
        Assert.Equal(42, json.GetProperty("id").GetInt64());
        Assert.Contains("boom", json.GetProperty("exception").GetString(), StringComparison.Ordinal);
    }

    /// <summary>A logger that formats each entry with the formatter the console provider uses for json.</summary>
    private sealed class FormattingLogger(string category) : ILogger
    {
        private readonly JsonLineFormatter _formatter = new();

        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            using var writer = new StringWriter();
            _formatter.Write(new LogEntry<TState>(logLevel, category, eventId, state, exception, formatter), null, writer);
            Lines.Add(writer.ToString());
        }
    }
}
