using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ManycoreMail.Config;
using ManycoreMail.Ingress;
using ManycoreMail.Metrics;
using ManycoreMail.Roles.Receiver;
using ManycoreMail.Smtp.Server;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.Tests;

/// <summary>Failed logins counted per client across connections: blocks that grow, clients kept apart,
/// bounded memory, and log lines without credentials.</summary>
public sealed class LoginThrottleTests
{
    private static readonly IPAddress A = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress B = IPAddress.Parse("192.0.2.2");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));
    private readonly CapturingLogger _log = new();

    private LoginThrottle Throttle(LoginThrottleOptions? options = null) => new(options ?? new LoginThrottleOptions(), _time, _log);

    private static void Fail(LoginThrottle throttle, IPAddress client, int times)
    {
        for (var i = 0; i < times; i++)
        {
            throttle.RecordFailure(client);
        }
    }

    [Fact]
    public void The_fifth_failure_blocks_and_each_further_one_doubles_the_block()
    {
        var throttle = Throttle();
        Fail(throttle, A, 4);
        Assert.Null(throttle.CheckAttempt(A));

        throttle.RecordFailure(A);
        Assert.Equal(TimeSpan.FromMinutes(1), throttle.CheckAttempt(A));

        _time.Advance(TimeSpan.FromSeconds(61));
        Assert.Null(throttle.CheckAttempt(A));
        throttle.RecordFailure(A);
        Assert.Equal(TimeSpan.FromMinutes(2), throttle.CheckAttempt(A));

        _time.Advance(TimeSpan.FromSeconds(121));
        throttle.RecordFailure(A);
        Assert.Equal(TimeSpan.FromMinutes(4), throttle.CheckAttempt(A));
    }

    [Fact]
    public void The_block_is_capped()
    {
        var throttle = Throttle(new LoginThrottleOptions { MaxBlock = TimeSpan.FromMinutes(3) });
        Fail(throttle, A, 40);
        Assert.Equal(TimeSpan.FromMinutes(3), throttle.CheckAttempt(A));
    }

    [Fact]
    public void Another_client_is_unaffected_and_an_IPv6_64_is_one_client()
    {
        var throttle = Throttle();
        Fail(throttle, A, 5);
        Assert.NotNull(throttle.CheckAttempt(A));
        Assert.Null(throttle.CheckAttempt(B));

        Fail(throttle, IPAddress.Parse("2001:db8:0:9::1"), 3);
        Fail(throttle, IPAddress.Parse("2001:db8:0:9:abcd::2"), 2);
        Assert.NotNull(throttle.CheckAttempt(IPAddress.Parse("2001:db8:0:9::77")));
        Assert.Null(throttle.CheckAttempt(IPAddress.Parse("2001:db8:0:a::1")));
    }

    [Fact]
    public void Failures_are_forgotten_after_a_quiet_spell()
    {
        var throttle = Throttle();
        Fail(throttle, A, 4);
        _time.Advance(TimeSpan.FromMinutes(16));
        Fail(throttle, A, 4);
        Assert.Null(throttle.CheckAttempt(A));
    }

    [Fact]
    public void Memory_is_bounded_by_forgetting_the_client_whose_last_failure_is_oldest()
    {
        var throttle = Throttle(new LoginThrottleOptions { MaxClients = 2 });
        Fail(throttle, A, 5);
        throttle.RecordFailure(B);
        throttle.RecordFailure(IPAddress.Parse("192.0.2.3"));

        Assert.Null(throttle.CheckAttempt(A));
    }

    [Fact]
    public async Task Over_smtp_the_sixth_attempt_gets_454_the_right_password_works_after_the_block_and_no_log_holds_a_password()
    {
        var throttle = Throttle();
        var handler = new SubmissionHandler(new LoginCheck([new Credential("apa", "banan-right")]), null!, new MetricsRegistry(), _log, HeaderRecipientLimit.Default);
        var options = new SmtpServerOptions
        {
            ServerName = "mx.test",
            AuthEnabled = true,
            RequireAuthentication = true,
            // Trusted, so AUTH is offered without TLS.
            TrustedNetworks = [IPNetwork.Parse("127.0.0.0/8")],
            AuthFailureDelay = TimeSpan.Zero,
            AuthThrottle = throttle,
        };
        await using var server = new SmtpServer(options, handler, _log);
        var endPoint = server.Start(new IPEndPoint(IPAddress.Loopback, 0));

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("535 5.7.8 Authentication credentials invalid", await AuthenticateAsync(endPoint, "apa", "guess-" + i));
        }

        Assert.Equal("454 4.7.0 Too many failed logins from your address, try again in 60 seconds", await AuthenticateAsync(endPoint, "apa", "banan-right"));
        _time.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal("235 2.7.0 Authentication successful", await AuthenticateAsync(endPoint, "apa", "banan-right"));

        Assert.Contains(_log.Messages, m => m.Contains("refused unchecked", StringComparison.Ordinal) && m.Contains("127.0.0.1", StringComparison.Ordinal));
        Assert.DoesNotContain(_log.Messages, m => m.Contains("guess-", StringComparison.Ordinal) || m.Contains("banan", StringComparison.Ordinal));
    }

    private static async Task<string?> AuthenticateAsync(IPEndPoint server, string user, string password)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server);
        using var reader = new StreamReader(tcp.GetStream(), Encoding.ASCII, false, 1, leaveOpen: true);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        async Task<string?> ReplyAsync()
        {
            // Bounded by the server: a reply ends at a line without a dash, or the connection closes.
            while (true)
            {
                var line = await reader.ReadLineAsync(timeout.Token);
                if (line is null || line.Length < 4 || line[3] != '-')
                {
                    return line;
                }
            }
        }

        await ReplyAsync();
        await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes("EHLO client.test\r\n"), timeout.Token);
        await ReplyAsync();
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{password}"));
        await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"AUTH PLAIN {plain}\r\n"), timeout.Token);
        return await ReplyAsync();
    }

    /// <summary>Every formatted log line, of every category.</summary>
    private sealed class CapturingLogger : ILogger<LoginThrottle>
    {
        public ConcurrentQueue<string> Messages { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Messages.Enqueue(formatter(state, exception));
    }
}
