using System.Collections.Concurrent;
using System.Text.Json;
using ManycoreMail.Hosting;
using ManycoreMail.Roles.Sender;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.IntegrationTests;

/// <summary>A real delivery (dnsmasq for the MX, an SMTP server on loopback) logs one line per recipient outcome, and
/// in the json format each line is a JSON object with the maillog fields.</summary>
public sealed class RecipientOutcomeLogTests
{
    [Fact]
    public async Task Each_recipient_outcome_is_one_json_line_with_uuid_recipient_site_mx_ip_reply_and_delay()
    {
        await using var harness = await DeliveryHarness.StartAsync(["mx-host=outcome.test,mx.outcome.test,10", "host-record=mx.outcome.test,127.0.0.41"]);
        harness.StartServer("127.0.0.41", new ScriptedHandler((recipient, _) => recipient switch
        {
            "gone@outcome.test" => new Smtp.SmtpReply(550, "5.1.1", "User unknown"),
            _ => Smtp.SmtpReply.Ok(),
        }));
        var logger = new JsonLinesLogger();
        await harness.StartSenderAsync(logger: logger);

        await harness.EnqueueAsync("uuid-outcome", "ok@outcome.test", "gone@outcome.test");
        await harness.WaitForEventsAsync(2);

        var outcomes = logger.Lines.Select(l => JsonDocument.Parse(l).RootElement).Where(j => j.TryGetProperty("status", out _)).ToList();
        var delivered = Assert.Single(outcomes, j => j.GetProperty("recipient").GetString() == "ok@outcome.test");
        Assert.Equal("delivered", delivered.GetProperty("status").GetString());
        Assert.Equal("information", delivered.GetProperty("level").GetString());
        Assert.Equal("uuid-outcome", delivered.GetProperty("uuid").GetString());
        Assert.Equal("outcome.test", delivered.GetProperty("site").GetString());
        Assert.Equal("mx.outcome.test", delivered.GetProperty("mxHost").GetString());
        Assert.Equal("127.0.0.41", delivered.GetProperty("ip").GetString());
        Assert.StartsWith("250", delivered.GetProperty("reply").GetString(), StringComparison.Ordinal);
        Assert.True(delivered.GetProperty("delay").GetDouble() >= 0);
        Assert.True(DateTimeOffset.TryParse(delivered.GetProperty("timestamp").GetString(), out _));
        var bounced = Assert.Single(outcomes, j => j.GetProperty("recipient").GetString() == "gone@outcome.test");
        Assert.Equal("bounced", bounced.GetProperty("status").GetString());
        Assert.Contains("550 5.1.1 User unknown", bounced.GetProperty("reply").GetString(), StringComparison.Ordinal);
    }

    /// <summary>The sender's logger with the json console formatter's output kept per entry.</summary>
    private sealed class JsonLinesLogger : ILogger<SenderRole>
    {
        private readonly JsonLineFormatter _formatter = new();

        public ConcurrentQueue<string> Lines { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            using var writer = new StringWriter();
            _formatter.Write(new Microsoft.Extensions.Logging.Abstractions.LogEntry<TState>(logLevel, typeof(SenderRole).FullName!, eventId, state, exception, formatter), null, writer);
            Lines.Enqueue(writer.ToString());
        }
    }
}
