using System.Net;
using System.Text;
using ManycoreMail.Smtp.Client;
using ManycoreMail.Smtp.Server;
using ManycoreMail.Smtp.Tests.Support;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Smtp.Tests;

/// <summary>Our client against our server over loopback.</summary>
public sealed class ClientAgainstServerTests
{
    internal static readonly SmtpClientOptions Plain = new()
    {
        HeloName = "client.test",
        TlsMode = SmtpTlsMode.None,
        CommandTimeout = TimeSpan.FromSeconds(20),
        DataTimeout = TimeSpan.FromSeconds(20),
        ConnectTimeout = TimeSpan.FromSeconds(10),
    };

    private static SmtpServerOptions TlsAuthOptions => TestServer.DefaultOptions with
    {
        CertificateProvider = CertificateHolder.Provider,
        AuthEnabled = true,
        RequireAuthentication = true,
    };

    [Fact]
    public async Task Greeting_and_capabilities_are_parsed()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { MaxMessageSize = 4242 });
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, Plain, CancellationToken.None);
        Assert.Equal(220, client.Greeting.Code);
        Assert.Equal("mx.test ESMTP", client.Greeting.Text);
        Assert.True(client.IsExtended);
        Assert.False(client.IsTls);
        Assert.Equal("4242", client.Capabilities["SIZE"]);
        Assert.True(client.Capabilities.ContainsKey("PIPELINING"));
        Assert.True(client.Capabilities.ContainsKey("ENHANCEDSTATUSCODES"));
        Assert.Equal(server.EndPoint, client.RemoteEndPoint);
        await client.QuitAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Opportunistic_tls_then_auth_then_send()
    {
        await using var server = TestServer.Start(TlsAuthOptions);
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, Plain with { TlsMode = SmtpTlsMode.Opportunistic }, CancellationToken.None);
        Assert.True(client.IsTls);
        Assert.Contains("PLAIN", client.Capabilities["AUTH"], StringComparison.Ordinal);
        Assert.False(client.Capabilities.ContainsKey("STARTTLS"));

        await client.AuthenticateAsync("user", "secret", CancellationToken.None);
        var result = await client.SendAsync("a@example.com", ["b@example.com"], "Subject: t\r\n\r\nbody\r\n"u8.ToArray(), CancellationToken.None);
        Assert.Equal(250, result.DataReply?.Code);
        var message = Assert.Single(server.Handler.Messages);
        Assert.True(message.IsTls);
        Assert.Equal("user", message.AuthenticatedUser);
    }

    [Fact]
    public async Task Wrong_credentials_throw_with_the_535_reply()
    {
        await using var server = TestServer.Start(TlsAuthOptions);
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, Plain with { TlsMode = SmtpTlsMode.Required }, CancellationToken.None);
        var error = await Assert.ThrowsAsync<SmtpClientException>(() => client.AuthenticateAsync("user", "wrong", CancellationToken.None));
        Assert.Equal(535, error.Reply?.Code);
        Assert.Equal("5.7.8", error.Reply?.EnhancedStatus);
    }

    [Fact]
    public async Task Required_tls_fails_when_not_offered()
    {
        await using var server = TestServer.Start();
        // Its own type, so a transport security policy can tell it from other failures without reading the text.
        var error = await Assert.ThrowsAsync<SmtpStartTlsException>(() =>
            SmtpClientConnection.ConnectAsync(server.EndPoint, Plain with { TlsMode = SmtpTlsMode.Required }, CancellationToken.None));
        Assert.Contains("STARTTLS", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Certificate_validation_failure_is_reported_as_a_tls_failure()
    {
        await using var server = TestServer.Start(TlsAuthOptions);
        var options = Plain with { TlsMode = SmtpTlsMode.Opportunistic, ValidateCertificate = true, TargetHost = "mx.example.com" };
        var error = await Assert.ThrowsAsync<SmtpClientException>(() => SmtpClientConnection.ConnectAsync(server.EndPoint, options, CancellationToken.None));
        Assert.Contains("TLS failed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_custom_validation_callback_decides()
    {
        await using var server = TestServer.Start(TlsAuthOptions);
        var seen = 0;
        var options = Plain with
        {
            TlsMode = SmtpTlsMode.Required,
            CertificateValidation = (_, certificate, _, _) =>
            {
                Interlocked.Increment(ref seen);
                return certificate?.Subject == "CN=localhost";
            },
        };
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, options, CancellationToken.None);
        Assert.True(client.IsTls);
        Assert.Equal(1, seen);
    }

    [Fact]
    public async Task Dot_stuffing_round_trips_byte_exact()
    {
        await using var server = TestServer.Start();
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, Plain, CancellationToken.None);
        var message = Encoding.ASCII.GetBytes(".starts with a dot\r\n..two\r\n.\r\n\r\n.\r\nmiddle . dot\r\n...\r\nend");
        var big = new StringBuilder();
        for (var i = 0; i < 20_000; i++)
        {
            big.Append(i % 7 == 0 ? "." : "x").Append(i).Append("\r\n");
        }

        var bigMessage = Encoding.ASCII.GetBytes(big.ToString());

        var first = await client.SendAsync("a@example.com", ["b@example.com"], message, CancellationToken.None);
        var second = await client.SendAsync("a@example.com", ["b@example.com"], bigMessage, CancellationToken.None);
        Assert.Equal(250, first.DataReply?.Code);
        Assert.Equal(250, second.DataReply?.Code);

        var received = server.Handler.Messages.ToArray();
        // The missing final CRLF was added; everything else is byte-exact.
        Assert.Equal([.. message, .. "\r\n"u8.ToArray()], received[0].Body);
        Assert.Equal(bigMessage, received[1].Body);
    }

    [Theory]
    [InlineData(65_536 - 3)]
    [InlineData(65_536 - 2)]
    [InlineData(65_536 - 1)]
    [InlineData(65_536)]
    [InlineData(65_536 + 1)]
    [InlineData(131_072)]
    public async Task Dot_stuffing_is_exact_where_the_client_splits_its_writes(int dotLineStart)
    {
        // The client writes the body in 64 KiB segments; a line starting with a dot right at a segment edge must
        // still be stuffed once and come back unstuffed byte for byte. Lines of 998 octets stay within limits.
        await using var server = TestServer.Start();
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, Plain, CancellationToken.None);
        var text = new StringBuilder();
        // 100-octet lines while more than a full line is left, then one line that ends exactly where the dot goes.
        while (dotLineStart - text.Length > 1000)
        {
            text.Append('x', 98).Append("\r\n");
        }
        text.Append('y', dotLineStart - text.Length - 2).Append("\r\n");
        text.Append(".dot at the edge\r\n..two dots\r\nend\r\n");
        var message = Encoding.ASCII.GetBytes(text.ToString());
        Assert.Equal((byte)'.', message[dotLineStart]);

        var result = await client.SendAsync("a@example.com", ["b@example.com"], message, CancellationToken.None);

        Assert.Equal(250, result.DataReply?.Code);
        Assert.Equal(message, server.Handler.Messages.Single().Body);
    }

    [Fact]
    public async Task Per_recipient_replies_come_back_in_order()
    {
        var handler = new RecordingHandler
        {
            OnRcptTo = rcpt => rcpt switch
            {
                "unknown@example.com" => new SmtpReply(550, "5.1.1", "No such user"),
                "full@example.com" => new SmtpReply(451, "4.2.2", "Mailbox full, try later"),
                _ => SmtpReply.Ok(),
            },
        };
        await using var server = TestServer.Start(handler: handler);
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, Plain, CancellationToken.None);
        var result = await client.SendAsync("a@example.com", ["ok@example.com", "unknown@example.com", "full@example.com", "ok2@example.com"], "x\r\n"u8.ToArray(), CancellationToken.None);

        Assert.Equal(250, result.MailFromReply.Code);
        Assert.Equal(
            [("ok@example.com", 250), ("unknown@example.com", 550), ("full@example.com", 451), ("ok2@example.com", 250)],
            result.RecipientReplies.Select(r => (r.Recipient, r.Reply.Code)).ToArray());
        Assert.Equal("4.2.2", result.RecipientReplies[2].Reply.EnhancedStatus);
        Assert.Equal("Mailbox full, try later", result.RecipientReplies[2].Reply.Text);
        Assert.Equal(250, result.DataReply?.Code);
        Assert.Equal(["ok@example.com", "ok2@example.com"], Assert.Single(handler.Messages).Envelope.Recipients);
    }

    [Fact]
    public async Task No_accepted_recipient_means_no_data_and_the_connection_stays_usable()
    {
        var handler = new RecordingHandler { OnRcptTo = rcpt => rcpt.StartsWith("bad", StringComparison.Ordinal) ? new SmtpReply(550, "5.1.1", "No") : SmtpReply.Ok() };
        await using var server = TestServer.Start(handler: handler);
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, Plain, CancellationToken.None);
        var refused = await client.SendAsync("a@example.com", ["bad1@example.com", "bad2@example.com"], "x\r\n"u8.ToArray(), CancellationToken.None);
        Assert.Null(refused.DataReply);
        Assert.All(refused.RecipientReplies, r => Assert.Equal(550, r.Reply.Code));

        var accepted = await client.SendAsync("a@example.com", ["good@example.com"], "x\r\n"u8.ToArray(), CancellationToken.None);
        Assert.Equal(250, accepted.DataReply?.Code);
        await client.ResetAsync(CancellationToken.None);
        Assert.Single(handler.Messages);
    }

    [Fact]
    public async Task A_refused_sender_is_every_recipients_reply()
    {
        var handler = new RecordingHandler { OnMailFrom = _ => new SmtpReply(451, "4.7.1", "Try later") };
        await using var server = TestServer.Start(handler: handler);
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, Plain, CancellationToken.None);
        var result = await client.SendAsync("a@example.com", ["b@example.com", "c@example.com"], "x\r\n"u8.ToArray(), CancellationToken.None);
        Assert.Equal(451, result.MailFromReply.Code);
        Assert.All(result.RecipientReplies, r => Assert.Equal(451, r.Reply.Code));
        Assert.Null(result.DataReply);
    }

    [Fact]
    public async Task The_data_reply_carries_the_handlers_refusal()
    {
        var handler = new RecordingHandler { OnMessage = (_, _) => new SmtpReply(554, "5.7.1", "Spam") };
        await using var server = TestServer.Start(handler: handler);
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, Plain, CancellationToken.None);
        var result = await client.SendAsync("a@example.com", ["b@example.com"], "x\r\n"u8.ToArray(), CancellationToken.None);
        Assert.Equal(new SmtpReply(554, "5.7.1", "Spam"), result.DataReply);
    }

    [Fact]
    public async Task A_421_throws_with_the_reply_and_the_connection_is_finished()
    {
        var handler = new RecordingHandler { OnRcptTo = _ => new SmtpReply(421, "4.3.2", "Going down") };
        await using var server = TestServer.Start(handler: handler);
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, Plain, CancellationToken.None);
        var error = await Assert.ThrowsAsync<SmtpClientException>(() => client.SendAsync("a@example.com", ["b@example.com"], "x\r\n"u8.ToArray(), CancellationToken.None));
        Assert.Equal(421, error.Reply?.Code);
        await Assert.ThrowsAsync<SmtpClientException>(() => client.ResetAsync(CancellationToken.None));
        await client.QuitAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Eight_bit_messages_round_trip()
    {
        await using var server = TestServer.Start();
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, Plain, CancellationToken.None);
        var message = Encoding.UTF8.GetBytes("Subject: grüße\r\n\r\nÄÖÜ ñ 日本\r\n");
        var result = await client.SendAsync("a@example.com", ["b@example.com"], message, CancellationToken.None);
        Assert.Equal(250, result.DataReply?.Code);
        Assert.Equal(message, Assert.Single(server.Handler.Messages).Body);
    }

    [Fact]
    public async Task Connect_to_a_closed_port_fails_with_a_client_exception()
    {
        // Reserved and never bound: nothing else takes it, where a port the kernel chose may be its next outgoing one.
        var endPoint = new IPEndPoint(IPAddress.Loopback, FreePort.Tcp());
        var error = await Assert.ThrowsAsync<SmtpClientException>(() => SmtpClientConnection.ConnectAsync(endPoint, Plain, CancellationToken.None));
        Assert.Contains(endPoint.ToString(), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bound_source_address_is_what_the_server_sees()
    {
        await using var server = TestServer.Start();
        var options = Plain with { SourceAddress = IPAddress.Parse("127.0.0.2") };
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, options, CancellationToken.None);
        await client.SendAsync("a@example.com", ["b@example.com"], "x\r\n"u8.ToArray(), CancellationToken.None);
        Assert.Equal([IPAddress.Parse("127.0.0.2")], server.Handler.RemoteAddresses.ToArray());
    }
}
