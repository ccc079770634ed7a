using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Text;
using ManycoreMail.Smtp.Tests.Support;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Smtp.Tests;

/// <summary>Session limits, authentication throttling, TLS versions and shutdown, over raw sockets.</summary>
public sealed class LimitConformanceTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Sessions_over_the_overall_limit_get_421_and_a_freed_slot_is_reused()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { MaxSessions = 2 });
        await using var first = await server.ConnectRawAsync();
        await using var second = await server.ConnectRawAsync();
        Assert.StartsWith("220 ", (await first.ReadReplyAsync())[0]);
        Assert.StartsWith("220 ", (await second.ReadReplyAsync())[0]);

        await using (var third = await server.ConnectRawAsync())
        {
            Assert.Equal(["421 4.7.0 Too many connections, try again later"], await third.ReadReplyAsync());
            Assert.Null(await third.ReadLineAsync());
        }

        Assert.StartsWith("221 ", await first.CommandLastLineAsync("QUIT"));
        Assert.Null(await first.ReadLineAsync());
        // The slot frees when the first session has fully ended; retry until then.
        Assert.True(await EventuallyGreetedAsync(server), "a slot never became free again");
    }

    [Fact]
    public async Task Refused_and_ended_sessions_are_no_longer_counted()
    {
        // A refused session ends on the accepting thread, before its start has even returned: it must still leave
        // the server's set, or the count (and a stop waiting on the set) would keep ghosts.
        await using var server = TestServer.Start(TestServer.DefaultOptions with { MaxSessions = 1 });
        await using var held = await server.ConnectRawAsync();
        Assert.StartsWith("220 ", (await held.ReadReplyAsync())[0]);
        for (var i = 0; i < 5; i++)
        {
            await using var refused = await server.ConnectRawAsync();
            Assert.Equal(["421 4.7.0 Too many connections, try again later"], await refused.ReadReplyAsync());
            Assert.Null(await refused.ReadLineAsync());
        }

        await Eventually.TrueAsync(() => server.Server.SessionCount == 1, Deadline, "only the held session counted");
        Assert.StartsWith("221 ", await held.CommandLastLineAsync("QUIT"));
        await Eventually.TrueAsync(() => server.Server.SessionCount == 0, Deadline, "no session counted");
    }

    private static async Task<bool> EventuallyGreetedAsync(TestServer server)
    {
        var until = DateTime.UtcNow + Deadline;
        while (DateTime.UtcNow < until)
        {
            await using var client = await server.ConnectRawAsync();
            var greeting = (await client.ReadReplyAsync())[0];
            if (greeting.StartsWith("220 ", StringComparison.Ordinal))
            {
                return true;
            }

            Assert.StartsWith("421 4.7.0", greeting);
            await Task.Yield();
        }

        return false;
    }

    [Fact]
    public async Task Sessions_over_the_per_client_limit_get_421_while_other_clients_get_in()
    {
        var options = TestServer.DefaultOptions with { MaxSessions = 10, MaxSessionsPerClient = 1, ProxyProtocol = true, ProxyProtocolFrom = [IPNetwork.Parse("127.0.0.0/8")] };
        await using var server = TestServer.Start(options);
        await using var first = await server.ConnectRawAsync();
        await first.SendAsync("PROXY TCP4 192.0.2.1 127.0.0.1 40000 25\r\n");
        Assert.StartsWith("220 ", (await first.ReadReplyAsync())[0]);

        await using var sameClient = await server.ConnectRawAsync();
        await sameClient.SendAsync("PROXY TCP4 192.0.2.1 127.0.0.1 40001 25\r\n");
        Assert.Equal(["421 4.7.0 Too many connections from your address, try again later"], await sameClient.ReadReplyAsync());
        // Until its session has ended it is counted for the load balancer, which may have one pending header.
        Assert.Null(await sameClient.ReadLineAsync());

        await using var otherClient = await server.ConnectRawAsync();
        await otherClient.SendAsync("PROXY TCP4 192.0.2.2 127.0.0.1 40002 25\r\n");
        Assert.StartsWith("220 ", (await otherClient.ReadReplyAsync())[0]);
    }

    [Fact]
    public async Task Failed_auth_attempts_are_counted_and_the_last_one_closes_the_session()
    {
        var options = TestServer.DefaultOptions with
        {
            AuthEnabled = true,
            MaxAuthFailures = 2,
            TrustedNetworks = [IPNetwork.Parse("127.0.0.0/8")],
        };
        await using var server = TestServer.Start(options);
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        Assert.Equal(["535 5.7.8 Authentication credentials invalid"], await client.CommandAsync("AUTH PLAIN " + Plain("user", "wrong")));
        await client.SendAsync("AUTH PLAIN " + Plain("user", "wrong-again") + "\r\n");
        Assert.Equal("535 5.7.8 Authentication credentials invalid", await client.ReadLineAsync());
        Assert.Equal("421 4.7.0 Too many failed authentication attempts, closing connection", await client.ReadLineAsync());
        Assert.Null(await client.ReadLineAsync());
        Assert.Contains(server.Logger.Entries, e => e.Message.Contains("failure 2 of this session", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_successful_auth_after_a_failure_still_works()
    {
        var options = TestServer.DefaultOptions with { AuthEnabled = true, TrustedNetworks = [IPNetwork.Parse("127.0.0.0/8")] };
        await using var server = TestServer.Start(options);
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        Assert.Equal("535 5.7.8 Authentication credentials invalid", await client.CommandLastLineAsync("AUTH PLAIN " + Plain("user", "wrong")));
        Assert.Equal("235 2.7.0 Authentication successful", await client.CommandLastLineAsync("AUTH PLAIN " + Plain("user", "secret")));
    }

    [Fact]
    public async Task While_stopping_a_transaction_finishes_but_no_new_one_begins()
    {
        var server = TestServer.Start();
        await using var busy = await server.ConnectRawAsync();
        await busy.ReadReplyAsync();
        await busy.CommandAsync("EHLO client.test");
        await busy.CommandAsync("MAIL FROM:<a@example.com>");
        await busy.CommandAsync("RCPT TO:<b@example.com>");
        using var deadline = new CancellationTokenSource(Deadline);
        var stop = server.Server.StopAsync(deadline.Token);

        Assert.StartsWith("354", await busy.CommandLastLineAsync("DATA"));
        await busy.SendAsync("finished\r\n.\r\nMAIL FROM:<a@example.com>\r\n");
        Assert.Equal(["250 2.0.0 Queued"], await busy.ReadReplyAsync());
        Assert.Equal(["421 4.3.2 Service shutting down"], await busy.ReadReplyAsync());
        Assert.Null(await busy.ReadLineAsync());
        await stop;
        Assert.Single(server.Handler.Messages);
        Assert.Single(server.Handler.ReversePaths);
        await server.DisposeAsync();
    }

    [Fact]
    public async Task After_stopping_nothing_is_accepted()
    {
        var server = TestServer.Start();
        await server.Server.StopAsync(CancellationToken.None);
        await Assert.ThrowsAnyAsync<System.Net.Sockets.SocketException>(server.ConnectRawAsync);
        await server.DisposeAsync();
    }

    [Theory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public async Task Tls_1_2_and_1_3_are_offered(SslProtocols protocol)
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { CertificateProvider = CertificateHolder.Provider });
        var (ok, negotiated) = await HandshakeAsync(server, protocol);
        Assert.True(ok);
        Assert.Equal(protocol, negotiated);
    }

    [Fact]
    public async Task Tls_1_1_is_refused()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { CertificateProvider = CertificateHolder.Provider });
#pragma warning disable SYSLIB0039 // Offering an obsolete protocol is the point of the test.
        var (ok, _) = await HandshakeAsync(server, SslProtocols.Tls11);
#pragma warning restore SYSLIB0039
        Assert.False(ok);
    }

    private static async Task<(bool Ok, SslProtocols Protocol)> HandshakeAsync(TestServer server, SslProtocols protocol)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, server.EndPoint.Port);
        var stream = tcp.GetStream();
        var buffer = new byte[1024];
        async Task<string> ReadAsync()
        {
            var text = new StringBuilder();
            while (!text.ToString().EndsWith("\r\n", StringComparison.Ordinal) || text.ToString().Split("\r\n")[^2][3] == '-')
            {
                var read = await stream.ReadAsync(buffer);
                Assert.NotEqual(0, read);
                text.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }

            return text.ToString();
        }

        await ReadAsync();
        await stream.WriteAsync("EHLO client.test\r\n"u8.ToArray());
        await ReadAsync();
        await stream.WriteAsync("STARTTLS\r\n"u8.ToArray());
        Assert.StartsWith("220 2.0.0", await ReadAsync());
        await using var tls = new SslStream(stream, leaveInnerStreamOpen: true, (_, _, _, _) => true);
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost", EnabledSslProtocols = protocol });
            return (true, tls.SslProtocol);
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            return (false, SslProtocols.None);
        }
    }

    private static string Plain(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes("\0" + user + "\0" + password));
}
