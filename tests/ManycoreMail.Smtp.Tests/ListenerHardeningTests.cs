using System.Collections.Concurrent;
using System.Net;
using System.Text;
using ManycoreMail.Smtp.Server;
using ManycoreMail.Smtp.Tests.Support;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Smtp.Tests;

/// <summary>What keeps one client from exhausting or fooling a listener: believed PROXY sources, per-client
/// keys (IPv6 per /64), limits before the header, session lifetime, minimum data rate, the memory of bodies
/// being received, and the cross-session AUTH throttle.</summary>
public sealed class ListenerHardeningTests
{
    private static readonly IPNetwork Loopback = IPNetwork.Parse("127.0.0.0/8");
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private const string Insufficient = "452 4.3.1 Insufficient system storage, try again later";

    [Theory]
    [InlineData("192.0.2.7", "192.0.2.7")]
    [InlineData("::ffff:192.0.2.7", "192.0.2.7")]
    [InlineData("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::")]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:2::")]
    [InlineData("fe80::1%2", "fe80::")]
    public void A_client_is_its_IPv4_address_or_its_IPv6_64(string address, string key) =>
        Assert.Equal(IPAddress.Parse(key), ClientKey.Of(IPAddress.Parse(address)));

    [Fact]
    public void IPv6_addresses_share_a_key_only_within_one_64()
    {
        Assert.Equal(ClientKey.Of(IPAddress.Parse("2001:db8::1")), ClientKey.Of(IPAddress.Parse("2001:db8::ffff:2")));
        Assert.NotEqual(ClientKey.Of(IPAddress.Parse("2001:db8::1")), ClientKey.Of(IPAddress.Parse("2001:db8:0:1::1")));
    }

    [Fact]
    public async Task A_peer_outside_proxy_protocol_from_is_closed_before_it_can_claim_a_trusted_address()
    {
        var options = TestServer.DefaultOptions with
        {
            ProxyProtocol = true,
            ProxyProtocolFrom = [IPNetwork.Parse("192.0.2.0/24")],
            AuthEnabled = true,
            RequireAuthentication = true,
            TrustedNetworks = [IPNetwork.Parse("10.0.0.0/8")],
        };
        await using var server = TestServer.Start(options);
        await using var client = await server.ConnectRawAsync();
        try
        {
            await client.SendAsync("PROXY TCP4 10.1.2.3 10.0.0.1 5555 25\r\nEHLO claimer.test\r\nMAIL FROM:<a@example.com>\r\n");
        }
        catch (IOException)
        {
            // Closed before the bytes went out: just as refused.
        }

        Assert.Null(await client.ReadLineAsync());
        Assert.Empty(server.Handler.ReversePaths);
        Assert.Contains(server.Logger.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("not in proxy-protocol-from", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_per_client_limit_counts_the_load_balancer_until_its_header_names_the_client()
    {
        var options = TestServer.DefaultOptions with { MaxSessionsPerClient = 1, ProxyProtocol = true, ProxyProtocolFrom = [Loopback] };
        await using var server = TestServer.Start(options);
        await using var a = await server.ConnectRawAsync();
        await using var b = await server.ConnectRawAsync();
        var readA = a.ReadLineAsync();
        var readB = b.ReadLineAsync();

        // Neither has sent its header: the second of them is one too many for the balancer's address.
        var refused = await Task.WhenAny(readA, readB);
        Assert.Equal("421 4.7.0 Too many connections from your address, try again later", await refused);
        var (waiting, waitingRead) = refused == readA ? (b, readB) : (a, readA);

        await waiting.SendAsync("PROXY TCP4 192.0.2.1 127.0.0.1 40000 25\r\n");
        Assert.Equal("220 mx.test ESMTP", await waitingRead);
        // The session now counts for 192.0.2.1, so the balancer may bring another client.
        await using var other = await server.ConnectRawAsync();
        await other.SendAsync("PROXY TCP4 192.0.2.2 127.0.0.1 40001 25\r\n");
        Assert.Equal(["220 mx.test ESMTP"], await other.ReadReplyAsync());
    }

    [Fact]
    public async Task IPv6_clients_in_one_64_share_the_per_client_limit()
    {
        var options = TestServer.DefaultOptions with { MaxSessionsPerClient = 1, ProxyProtocol = true, ProxyProtocolFrom = [Loopback] };
        await using var server = TestServer.Start(options);
        await using var first = await server.ConnectRawAsync();
        await first.SendAsync("PROXY TCP6 2001:db8:0:7::1 2001:db8::25 40000 25\r\n");
        Assert.Equal(["220 mx.test ESMTP"], await first.ReadReplyAsync());

        await using (var sameNetwork = await server.ConnectRawAsync())
        {
            await sameNetwork.SendAsync("PROXY TCP6 2001:db8:0:7:ffff:1:2:3 2001:db8::25 40001 25\r\n");
            Assert.Equal(["421 4.7.0 Too many connections from your address, try again later"], await sameNetwork.ReadReplyAsync());
            Assert.Null(await sameNetwork.ReadLineAsync());
        }

        await using var otherNetwork = await server.ConnectRawAsync();
        await otherNetwork.SendAsync("PROXY TCP6 2001:db8:0:8::1 2001:db8::25 40002 25\r\n");
        Assert.Equal(["220 mx.test ESMTP"], await otherNetwork.ReadReplyAsync());
    }

    [Fact]
    public async Task A_client_that_dribbles_its_message_gets_421_and_is_closed()
    {
        var options = TestServer.DefaultOptions with { MinDataRate = 100, DataRateWindow = TimeSpan.FromSeconds(1) };
        await using var server = TestServer.Start(options);
        await using var client = await StartTransactionAsync(server);
        Assert.StartsWith("354", await client.CommandLastLineAsync("DATA"));

        var reply = client.ReadLineAsync();
        // The peer's pace, a few bytes a second against the 100 required; nothing here waits on the server.
        while (!reply.IsCompleted)
        {
            try
            {
                await client.SendAsync("x");
            }
            catch (IOException)
            {
                break;
            }

            await Task.WhenAny(reply, Task.Delay(TimeSpan.FromMilliseconds(200)));
        }

        Assert.Equal("421 4.4.2 Data rate too low, closing connection", await reply);
        Assert.Null(await client.ReadLineAsync());
        Assert.Empty(server.Handler.Messages);
        Assert.Contains(server.Logger.Entries, e => e.Message.Contains("data rate below the minimum", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_session_past_its_lifetime_gets_421_however_busy_it_is()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { MaxSessionLifetime = TimeSpan.FromSeconds(1) });
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();

        // Every NOOP is answered at once until the session is ended; the deadline only turns a session that is
        // never ended into a failure instead of a hang.
        var until = DateTime.UtcNow + Deadline;
        string last;
        do
        {
            last = await client.CommandLastLineAsync("NOOP");
        }
        while (last == "250 2.0.0 OK" && DateTime.UtcNow < until);

        Assert.Equal("421 4.4.2 Session time limit exceeded, closing connection", last);
        Assert.Null(await client.ReadLineAsync());
    }

    [Fact]
    public async Task Past_the_receiving_memory_a_new_DATA_gets_452_until_a_body_is_released()
    {
        // 12 KB: the first two buffers of one body (4 KB, then 8 KB) take all of it.
        await using var server = TestServer.Start(TestServer.DefaultOptions with { MaxReceivingBytes = 12 * 1024 });
        await using var first = await StartTransactionAsync(server);
        Assert.StartsWith("354", await first.CommandLastLineAsync("DATA"));
        await first.SendAsync("Subject: big\r\n\r\n" + Lines(5000));
        await Eventually.TrueAsync(() => server.Server.ReceivingBytes == 12 * 1024, Deadline, "the first body to take the memory");

        await using var second = await StartTransactionAsync(server);
        Assert.Equal(Insufficient, await second.CommandLastLineAsync("DATA"));

        await first.SendAsync(".\r\n");
        Assert.Equal("250 2.0.0 Queued", await first.ReadLineAsync());
        Assert.Equal(0, server.Server.ReceivingBytes);
        Assert.StartsWith("354", await second.CommandLastLineAsync("DATA"));
    }

    [Fact]
    public async Task A_body_that_would_cross_the_receiving_memory_is_dropped_with_452()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { MaxReceivingBytes = 12 * 1024 });
        await using var client = await StartTransactionAsync(server);
        Assert.StartsWith("354", await client.CommandLastLineAsync("DATA"));
        await client.SendAsync("Subject: too big for now\r\n\r\n" + Lines(20_000) + ".\r\n");

        Assert.Equal(Insufficient, await client.ReadLineAsync());
        Assert.Empty(server.Handler.Messages);
        Assert.Equal(0, server.Server.ReceivingBytes);
        // The session goes on: the transaction is over, a new one may begin.
        Assert.StartsWith("250", await client.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
    }

    [Fact]
    public async Task A_BDAT_transaction_past_the_receiving_memory_gets_452_and_its_chunk_is_skipped()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { MaxReceivingBytes = 12 * 1024 });
        await using var first = await StartTransactionAsync(server);
        Assert.StartsWith("354", await first.CommandLastLineAsync("DATA"));
        await first.SendAsync("Subject: big\r\n\r\n" + Lines(5000));
        await Eventually.TrueAsync(() => server.Server.ReceivingBytes == 12 * 1024, Deadline, "the first body to take the memory");

        await using var second = await StartTransactionAsync(server);
        var chunk = "Subject: x\r\n\r\nhello\r\n";
        await second.SendAsync($"BDAT {chunk.Length} LAST\r\n{chunk}");
        Assert.Equal([Insufficient], await second.ReadReplyAsync());
        Assert.Equal("250 2.0.0 OK", await second.CommandLastLineAsync("NOOP"));
    }

    [Fact]
    public async Task A_DATA_held_by_in_flow_control_gets_its_354_only_once_the_host_lets_it_in()
    {
        var inFlow = new ScriptedInFlow();
        await using var server = TestServer.Start(TestServer.DefaultOptions with { InFlow = inFlow });
        await using var client = await StartTransactionAsync(server);

        var answer = client.CommandLastLineAsync("DATA");
        await Eventually.TrueAsync(() => inFlow.Waiting == 1, Deadline, "the DATA to be held");
        Assert.False(answer.IsCompleted, "DATA was answered while held");

        inFlow.Open();
        Assert.StartsWith("354", await answer);
        await client.SendAsync("Subject: held\r\n\r\nhello\r\n.\r\n");
        Assert.Equal("250 2.0.0 Queued", await client.ReadLineAsync());
        Assert.Single(server.Handler.Messages);
    }

    [Fact]
    public async Task A_first_BDAT_chunk_held_by_in_flow_control_is_read_once_the_host_lets_it_in()
    {
        var inFlow = new ScriptedInFlow();
        await using var server = TestServer.Start(TestServer.DefaultOptions with { InFlow = inFlow });
        await using var client = await StartTransactionAsync(server);
        var first = "Subject: chunks\r\n\r\n";
        var last = "hello\r\n";

        await client.SendAsync($"BDAT {first.Length}\r\n{first}");
        var answer = client.ReadReplyAsync();
        await Eventually.TrueAsync(() => inFlow.Waiting == 1, Deadline, "the first chunk to be held");
        Assert.False(answer.IsCompleted, "the first chunk was answered while held");

        inFlow.Open();
        Assert.StartsWith("250", Assert.Single(await answer));
        // Later chunks of the transaction are not held again.
        await client.SendAsync($"BDAT {last.Length} LAST\r\n{last}");
        Assert.Equal("250 2.0.0 Queued", Assert.Single(await client.ReadReplyAsync()));
        Assert.Equal(1, inFlow.Waiting);
        Assert.Equal(first + last, Encoding.ASCII.GetString(Assert.Single(server.Handler.Messages).Body));
    }

    [Fact]
    public async Task A_throttled_client_gets_454_without_its_credentials_being_checked()
    {
        var throttle = new ScriptedThrottle();
        var checks = 0;
        var handler = new RecordingHandler { Credentials = (_, password) => Interlocked.Increment(ref checks) > 0 && password == "secret" };
        var options = TestServer.DefaultOptions with { AuthEnabled = true, TrustedNetworks = [Loopback], AuthThrottle = throttle };
        await using var server = TestServer.Start(options, handler);
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");

        Assert.Equal("535 5.7.8 Authentication credentials invalid", await client.CommandLastLineAsync("AUTH PLAIN " + Plain("user", "wrong")));
        Assert.Equal(IPAddress.Loopback, Assert.Single(throttle.Failures));

        throttle.Block = TimeSpan.FromSeconds(89.2);
        Assert.Equal("454 4.7.0 Too many failed logins from your address, try again in 90 seconds",
            await client.CommandLastLineAsync("AUTH PLAIN " + Plain("user", "secret")));
        Assert.Equal(1, checks);
        Assert.Single(throttle.Failures);
    }

    private static async Task<RawSmtpClient> StartTransactionAsync(TestServer server)
    {
        var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        Assert.StartsWith("250", await client.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
        Assert.StartsWith("250", await client.CommandLastLineAsync("RCPT TO:<b@example.com>"));
        return client;
    }

    /// <summary>About <paramref name="bytes"/> bytes of 78-byte lines (under the line limit).</summary>
    private static string Lines(int bytes)
    {
        var text = new StringBuilder();
        while (text.Length < bytes)
        {
            text.Append('a', 76).Append("\r\n");
        }

        return text.ToString();
    }

    private static string Plain(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{password}"));

    /// <summary>Holds every message until <see cref="Open"/>.</summary>
    private sealed class ScriptedInFlow : IInFlowControl
    {
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _waiting;

        public int Waiting => Volatile.Read(ref _waiting);

        public void Open() => _open.TrySetResult();

        public ValueTask WaitAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _waiting);
            return new ValueTask(_open.Task.WaitAsync(cancellationToken));
        }
    }

    private sealed class ScriptedThrottle : IAuthenticationThrottle
    {
        public TimeSpan? Block { get; set; }
        public ConcurrentQueue<IPAddress> Failures { get; } = new();

        public TimeSpan? CheckAttempt(IPAddress client) => Block;

        public void RecordFailure(IPAddress client) => Failures.Enqueue(client);
    }
}
