using System.Net;
using System.Text;
using ManycoreMail.Smtp.Server;
using ManycoreMail.Smtp.Tests.Support;

namespace ManycoreMail.Smtp.Tests;

/// <summary>RFC 5321/3207/4954 behaviour of the server, checked byte by byte over a real loopback socket.</summary>
public sealed class ServerConformanceTests
{
    private static SmtpServerOptions TlsOptions(bool requireAuthentication = false) => TestServer.DefaultOptions with
    {
        CertificateProvider = CertificateHolder.Provider,
        AuthEnabled = true,
        RequireAuthentication = requireAuthentication,
    };

    [Fact]
    public async Task Greeting_names_the_server()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        Assert.Equal(["220 mx.test ESMTP"], await client.ReadReplyAsync());
    }

    [Fact]
    public async Task Ehlo_lists_extensions_without_tls_or_auth_when_unavailable()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { MaxMessageSize = 12345 });
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        var reply = await client.CommandAsync("EHLO client.test");
        Assert.Equal(
            ["250-mx.test", "250-PIPELINING", "250-SIZE 12345", "250-8BITMIME", "250-SMTPUTF8", "250-CHUNKING", "250-DSN", "250 ENHANCEDSTATUSCODES"],
            reply);
    }

    [Fact]
    public async Task Ehlo_offers_starttls_and_hides_auth_until_tls()
    {
        await using var server = TestServer.Start(TlsOptions());
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        var before = await client.CommandAsync("ehlo client.test");
        Assert.Contains("250-STARTTLS", before);
        Assert.DoesNotContain(before, l => l.Contains("AUTH", StringComparison.Ordinal));

        Assert.Equal("220 2.0.0 Ready to start TLS", await client.StartTlsAsync());
        var after = await client.CommandAsync("EHLO client.test");
        Assert.Contains("250-AUTH PLAIN LOGIN", after);
        Assert.DoesNotContain(after, l => l.Contains("STARTTLS", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Helo_gives_a_plain_reply()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        Assert.Equal(["250 mx.test"], await client.CommandAsync("HELO client.test"));
        Assert.Equal("501 5.5.4 Syntax: HELO hostname", await client.CommandLastLineAsync("HELO"));
    }

    [Fact]
    public async Task Commands_out_of_sequence_get_503()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        Assert.StartsWith("503 5.5.1", await client.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
        Assert.StartsWith("503 5.5.1", await client.CommandLastLineAsync("RCPT TO:<b@example.com>"));
        Assert.StartsWith("503 5.5.1", await client.CommandLastLineAsync("DATA"));
        await client.CommandAsync("EHLO client.test");
        Assert.StartsWith("503 5.5.1", await client.CommandLastLineAsync("RCPT TO:<b@example.com>"));
        Assert.StartsWith("250", await client.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal("503 5.5.1 Nested MAIL command", await client.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal("503 5.5.1 Need RCPT command", await client.CommandLastLineAsync("DATA"));
        Assert.Empty(server.Handler.Recipients);
    }

    [Fact]
    public async Task Syntax_errors_get_501_and_unknown_commands_500()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        Assert.Equal("500 5.5.1 Command unrecognized", await client.CommandLastLineAsync("FROB nicate"));
        Assert.Equal("501 5.5.4 Syntax: MAIL FROM:<address>", await client.CommandLastLineAsync("MAIL TO:<a@example.com>"));
        Assert.Equal("501 5.5.4 Syntax: MAIL FROM:<address>", await client.CommandLastLineAsync("MAIL FROM:a@example.com"));
        Assert.Equal("501 5.1.7 Bad sender address syntax", await client.CommandLastLineAsync("MAIL FROM:<a b@example.com>"));
        Assert.Equal("555 5.5.4 Unsupported MAIL parameter", await client.CommandLastLineAsync("MAIL FROM:<a@example.com> FOO=BAR"));
        Assert.Equal("250 2.0.0 Sender OK", await client.CommandLastLineAsync("MAIL FROM:<a@example.com> BODY=8BITMIME SIZE=100"));
        Assert.Equal("501 5.1.3 Bad recipient address syntax", await client.CommandLastLineAsync("RCPT TO:<nobody>"));
        Assert.Equal("250 2.0.0 Recipient OK", await client.CommandLastLineAsync("RCPT TO:<Postmaster>"));
        Assert.Equal("501 5.5.4 Syntax: DATA", await client.CommandLastLineAsync("DATA now"));
    }

    [Fact]
    public async Task Null_sender_and_source_routes_are_accepted()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        Assert.StartsWith("250", await client.CommandLastLineAsync("MAIL FROM:<>"));
        Assert.StartsWith("250", await client.CommandLastLineAsync("RCPT TO:<@relay.example:b@example.com>"));
        Assert.Equal(["", ], server.Handler.ReversePaths.ToArray());
        Assert.Equal(["b@example.com"], server.Handler.Recipients.ToArray());
    }

    [Fact]
    public async Task A_line_too_long_is_refused_and_the_session_goes_on()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        Assert.Equal("500 5.5.2 Line too long", await client.CommandLastLineAsync("NOOP " + new string('x', 600)));
        // 512 octets including CRLF is the limit, and exactly that is fine.
        Assert.Equal("250 2.0.0 OK", await client.CommandLastLineAsync("NOOP " + new string('x', 505)));
        Assert.Equal("500 5.5.2 Line too long", await client.CommandLastLineAsync("NOOP " + new string('x', 506)));
        Assert.Equal("250 2.0.0 OK", await client.CommandLastLineAsync("NOOP"));
    }

    [Fact]
    public async Task A_megabyte_without_line_end_gets_one_reply_and_the_session_survives()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        var junk = new byte[1024 * 1024];
        junk.AsSpan().Fill((byte)'A');
        await client.SendAsync(junk);
        await client.SendAsync("\r\n");
        Assert.Equal(["500 5.5.2 Line too long"], await client.ReadReplyAsync());
        Assert.Equal("250 2.0.0 OK", await client.CommandLastLineAsync("NOOP"));
    }

    [Fact]
    public async Task Rset_noop_vrfy_help_and_quit()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        await client.CommandAsync("MAIL FROM:<a@example.com>");
        Assert.Equal("250 2.0.0 OK", await client.CommandLastLineAsync("RSET"));
        // RSET ended the transaction: a new MAIL is not nested.
        Assert.StartsWith("250", await client.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal("250 2.0.0 OK", await client.CommandLastLineAsync("noop"));
        Assert.StartsWith("252 2.5.0", await client.CommandLastLineAsync("VRFY someone"));
        Assert.StartsWith("214 2.0.0", await client.CommandLastLineAsync("HELP"));
        Assert.Equal("221 2.0.0 mx.test closing connection", await client.CommandLastLineAsync("QUIT"));
        Assert.Null(await client.ReadLineAsync());
    }

    [Fact]
    public async Task Too_many_recipients_get_452()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { MaxRecipients = 2 });
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        await client.CommandAsync("MAIL FROM:<a@example.com>");
        Assert.StartsWith("250", await client.CommandLastLineAsync("RCPT TO:<b1@example.com>"));
        Assert.StartsWith("250", await client.CommandLastLineAsync("RCPT TO:<b2@example.com>"));
        Assert.Equal("452 4.5.3 Too many recipients", await client.CommandLastLineAsync("RCPT TO:<b3@example.com>"));
        Assert.Equal(2, server.Handler.Recipients.Count);
    }

    [Fact]
    public async Task A_declared_size_over_the_limit_gets_552()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { MaxMessageSize = 1000 });
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        Assert.Equal("552 5.3.4 Message size exceeds fixed maximum message size", await client.CommandLastLineAsync("MAIL FROM:<a@example.com> SIZE=1001"));
        Assert.StartsWith("250", await client.CommandLastLineAsync("MAIL FROM:<a@example.com> SIZE=1000"));
    }

    [Fact]
    public async Task A_body_over_the_limit_is_read_to_the_end_and_refused_with_552()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { MaxMessageSize = 1000 });
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        await client.CommandAsync("MAIL FROM:<a@example.com>");
        await client.CommandAsync("RCPT TO:<b@example.com>");
        Assert.StartsWith("354", await client.CommandLastLineAsync("DATA"));
        var body = new StringBuilder();
        for (var i = 0; i < 100; i++)
        {
            body.Append("line ").Append(i).Append(" of a message that is too big\r\n");
        }

        Assert.Equal("552 5.3.4 Message size exceeds fixed maximum message size", await client.CommandLastLineAsync(body + "."));
        Assert.Equal("250 2.0.0 OK", await client.CommandLastLineAsync("NOOP"));
        Assert.Empty(server.Handler.Messages);
    }

    [Fact]
    public async Task A_data_line_over_1000_octets_is_refused_after_the_data()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        await client.CommandAsync("MAIL FROM:<a@example.com>");
        await client.CommandAsync("RCPT TO:<b@example.com>");
        await client.CommandAsync("DATA");
        Assert.Equal("500 5.5.2 Line too long in message data", await client.CommandLastLineAsync(new string('x', 999) + "\r\n."));
        Assert.Empty(server.Handler.Messages);

        // 998 octets plus CRLF is exactly the limit and fine.
        await client.CommandAsync("MAIL FROM:<a@example.com>");
        await client.CommandAsync("RCPT TO:<b@example.com>");
        await client.CommandAsync("DATA");
        Assert.Equal("250 2.0.0 Queued", await client.CommandLastLineAsync(new string('x', 998) + "\r\n."));
    }

    [Fact]
    public async Task Auth_before_tls_is_refused_with_538()
    {
        await using var server = TestServer.Start(TlsOptions());
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        Assert.Equal("538 5.7.11 Encryption required for requested authentication mechanism", await client.CommandLastLineAsync("AUTH PLAIN " + Plain("user", "secret")));
    }

    [Fact]
    public async Task Auth_plain_after_starttls_with_and_without_initial_response()
    {
        await using var server = TestServer.Start(TlsOptions());
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        await client.StartTlsAsync();
        await client.CommandAsync("EHLO client.test");
        Assert.Equal("535 5.7.8 Authentication credentials invalid", await client.CommandLastLineAsync("AUTH PLAIN " + Plain("user", "wrong")));
        Assert.Equal("334 ", await client.CommandLastLineAsync("AUTH PLAIN"));
        Assert.Equal("501 5.0.0 Authentication cancelled", await client.CommandLastLineAsync("*"));
        Assert.Equal("334 ", await client.CommandLastLineAsync("AUTH PLAIN"));
        Assert.Equal("235 2.7.0 Authentication successful", await client.CommandLastLineAsync(Plain("user", "secret")));
        Assert.Equal("503 5.5.1 Already authenticated", await client.CommandLastLineAsync("AUTH PLAIN " + Plain("user", "secret")));
    }

    [Fact]
    public async Task Auth_login_after_starttls()
    {
        await using var server = TestServer.Start(TlsOptions(requireAuthentication: true));
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.StartTlsAsync();
        await client.CommandAsync("EHLO client.test");
        Assert.Equal("530 5.7.0 Authentication required", await client.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal("334 VXNlcm5hbWU6", await client.CommandLastLineAsync("AUTH LOGIN"));
        Assert.Equal("334 UGFzc3dvcmQ6", await client.CommandLastLineAsync(B64("user")));
        Assert.Equal("235 2.7.0 Authentication successful", await client.CommandLastLineAsync(B64("secret")));
        Assert.StartsWith("250", await client.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
        Assert.StartsWith("250", await client.CommandLastLineAsync("RCPT TO:<b@example.com>"));
        await client.CommandAsync("DATA");
        Assert.Equal("250 2.0.0 Queued", await client.CommandLastLineAsync("Subject: x\r\n\r\nhi\r\n."));
        var message = Assert.Single(server.Handler.Messages);
        Assert.True(message.IsTls);
        Assert.Equal("user", message.AuthenticatedUser);
    }

    [Fact]
    public async Task Auth_login_rejects_bad_base64_and_unknown_mechanisms()
    {
        await using var server = TestServer.Start(TlsOptions());
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.StartTlsAsync();
        await client.CommandAsync("EHLO client.test");
        Assert.Equal("504 5.5.4 Unrecognized authentication type", await client.CommandLastLineAsync("AUTH CRAM-MD5"));
        await client.CommandAsync("AUTH LOGIN");
        Assert.Equal("501 5.5.2 Cannot decode response", await client.CommandLastLineAsync("!!!notbase64"));
        Assert.Equal("250 2.0.0 OK", await client.CommandLastLineAsync("NOOP"));
    }

    [Fact]
    public async Task Auth_without_tls_is_allowed_from_a_trusted_network()
    {
        var options = TlsOptions(requireAuthentication: true) with { TrustedNetworks = [IPNetwork.Parse("127.0.0.0/8")] };
        await using var server = TestServer.Start(options);
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        Assert.Contains("250-AUTH PLAIN LOGIN", await client.CommandAsync("EHLO client.test"));
        Assert.Equal("235 2.7.0 Authentication successful", await client.CommandLastLineAsync("AUTH PLAIN " + Plain("user", "secret")));
    }

    [Fact]
    public async Task Trusted_clients_may_send_without_auth_even_through_an_ipv4_mapped_address()
    {
        var options = TestServer.DefaultOptions with { RequireAuthentication = true, AuthEnabled = true, TrustedNetworks = [IPNetwork.Parse("127.0.0.0/8")] };
        await using var server = TestServer.Start(options, bind: new IPEndPoint(IPAddress.IPv6Any, 0));
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        Assert.StartsWith("250", await client.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
    }

    [Fact]
    public async Task Mail_without_auth_is_refused_with_530()
    {
        await using var server = TestServer.Start(TlsOptions(requireAuthentication: true));
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        Assert.Equal("530 5.7.0 Authentication required", await client.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
        Assert.Empty(server.Handler.ReversePaths);
    }

    [Fact]
    public async Task Commands_pipelined_after_starttls_in_the_clear_are_discarded()
    {
        await using var server = TestServer.Start(TlsOptions());
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        Assert.Equal("220 2.0.0 Ready to start TLS", await client.StartTlsAsync("EHLO evil.test\r\nMAIL FROM:<evil@evil.test>\r\n"));
        Assert.True(client.IsTls);
        // The first thing heard over TLS answers our NOOP, not the injected commands.
        Assert.Equal(["250 2.0.0 OK"], await client.CommandAsync("NOOP"));
        // EHLO is required again after TLS: the injected EHLO did not count.
        Assert.StartsWith("503 5.5.1", await client.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
        Assert.Empty(server.Handler.ReversePaths);
    }

    [Fact]
    public async Task Starttls_twice_or_without_certificate_is_refused()
    {
        await using (var server = TestServer.Start())
        {
            await using var client = await server.ConnectRawAsync();
            await client.ReadReplyAsync();
            Assert.Equal("502 5.5.1 STARTTLS not available", await client.CommandLastLineAsync("STARTTLS"));
        }

        await using (var server = TestServer.Start(TlsOptions()))
        {
            await using var client = await server.ConnectRawAsync();
            await client.ReadReplyAsync();
            await client.StartTlsAsync();
            Assert.Equal("503 5.5.1 TLS already active", await client.CommandLastLineAsync("STARTTLS"));
        }
    }

    [Fact]
    public async Task Dot_stuffing_is_undone_exactly()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        await client.CommandAsync("MAIL FROM:<a@example.com>");
        await client.CommandAsync("RCPT TO:<b@example.com>");
        await client.CommandAsync("DATA");
        var reply = await client.CommandLastLineAsync("Subject: dots\r\n\r\n..\r\n...leading\r\n.x\r\nmid.dle\r\n. \r\n\r\n.");
        Assert.Equal("250 2.0.0 Queued", reply);
        var message = Assert.Single(server.Handler.Messages);
        Assert.Equal("Subject: dots\r\n\r\n.\r\n..leading\r\nx\r\nmid.dle\r\n \r\n\r\n", Encoding.ASCII.GetString(message.Body));
        Assert.Equal(new SmtpEnvelope("a@example.com", ["b@example.com"]).ReversePath, message.Envelope.ReversePath);
        Assert.Equal(["b@example.com"], message.Envelope.Recipients);
    }

    [Fact]
    public async Task An_empty_message_ends_at_the_first_dot_line()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.SendAsync("EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
        await client.ReadReplyAsync();
        await client.ReadReplyAsync();
        await client.ReadReplyAsync();
        Assert.StartsWith("354", (await client.ReadReplyAsync())[0]);
        Assert.Equal("250 2.0.0 Queued", await client.CommandLastLineAsync("."));
        Assert.Empty(Assert.Single(server.Handler.Messages).Body);
    }

    [Fact]
    public async Task The_handlers_reply_is_relayed_verbatim()
    {
        var handler = new RecordingHandler
        {
            OnRcptTo = rcpt => rcpt.StartsWith("unknown", StringComparison.Ordinal)
                ? new SmtpReply(550, "5.1.1", "No such user here")
                : SmtpReply.Ok(),
            OnMessage = (_, _) => new SmtpReply(250, "2.6.0", "Queued as 0123ABCD\nsecond line"),
        };
        await using var server = TestServer.Start(handler: handler);
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        await client.CommandAsync("MAIL FROM:<a@example.com>");
        Assert.Equal("550 5.1.1 No such user here", await client.CommandLastLineAsync("RCPT TO:<unknown@example.com>"));
        await client.CommandAsync("RCPT TO:<b@example.com>");
        await client.CommandAsync("DATA");
        Assert.Equal(["250-2.6.0 Queued as 0123ABCD", "250 2.6.0 second line"], await client.CommandAsync("x\r\n."));
        Assert.Equal(["b@example.com"], Assert.Single(handler.Messages).Envelope.Recipients);
    }

    [Fact]
    public async Task All_recipients_refused_then_data_gets_554()
    {
        var handler = new RecordingHandler { OnRcptTo = _ => new SmtpReply(550, "5.1.1", "No") };
        await using var server = TestServer.Start(handler: handler);
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.SendAsync("EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
        Assert.StartsWith("250-", (await client.ReadReplyAsync())[0]);
        Assert.StartsWith("250", (await client.ReadReplyAsync())[0]);
        Assert.StartsWith("550", (await client.ReadReplyAsync())[0]);
        Assert.Equal(["554 5.5.1 No valid recipients"], await client.ReadReplyAsync());
    }

    [Fact]
    public async Task A_handler_exception_becomes_451_and_the_server_lives_on()
    {
        var handler = new RecordingHandler { OnMessage = (_, _) => throw new InvalidOperationException("disk on fire") };
        await using var server = TestServer.Start(handler: handler);
        await using (var client = await server.ConnectRawAsync())
        {
            await client.ReadReplyAsync();
            await client.CommandAsync("EHLO client.test");
            await client.CommandAsync("MAIL FROM:<a@example.com>");
            await client.CommandAsync("RCPT TO:<b@example.com>");
            await client.CommandAsync("DATA");
            Assert.Equal("451 4.3.0 Temporary failure, please retry", await client.CommandLastLineAsync("x\r\n."));
            // The transaction is over; the session is still fine.
            Assert.StartsWith("250", await client.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
        }

        Assert.Contains(server.Logger.Errors, e => e.Exception is InvalidOperationException);
        await using var second = await server.ConnectRawAsync();
        Assert.StartsWith("220", (await second.ReadReplyAsync())[0]);
    }

    [Fact]
    public async Task Pipelined_commands_are_answered_in_order()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.SendAsync("EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<bad address>\r\nNOOP\r\nDATA\r\n");
        Assert.Equal("250 ENHANCEDSTATUSCODES", (await client.ReadReplyAsync())[^1]);
        Assert.Equal(["250 2.0.0 Sender OK"], await client.ReadReplyAsync());
        Assert.Equal(["250 2.0.0 Recipient OK"], await client.ReadReplyAsync());
        Assert.Equal(["501 5.1.3 Bad recipient address syntax"], await client.ReadReplyAsync());
        Assert.Equal(["250 2.0.0 OK"], await client.ReadReplyAsync());
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], await client.ReadReplyAsync());
        // Data plus the next commands in one write as well.
        await client.SendAsync("hello\r\n.\r\nRSET\r\nQUIT\r\n");
        Assert.Equal(["250 2.0.0 Queued"], await client.ReadReplyAsync());
        Assert.Equal(["250 2.0.0 OK"], await client.ReadReplyAsync());
        Assert.StartsWith("221", (await client.ReadReplyAsync())[0]);
    }

    [Fact]
    public async Task Bare_line_feeds_in_data_are_refused_with_550()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        await client.CommandAsync("MAIL FROM:<a@example.com>");
        await client.CommandAsync("RCPT TO:<b@example.com>");
        await client.CommandAsync("DATA");
        Assert.Equal("550 5.6.0 Bare LF or CR in message not allowed", await client.CommandLastLineAsync("one\ntwo\r\n."));
        Assert.Empty(server.Handler.Messages);
    }

    [Fact]
    public async Task Too_many_errors_close_the_session_with_421()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { MaxErrors = 3 });
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        Assert.StartsWith("500", await client.CommandLastLineAsync("BAD1"));
        Assert.StartsWith("500", await client.CommandLastLineAsync("BAD2"));
        await client.SendAsync("BAD3\r\n");
        Assert.StartsWith("500", (await client.ReadReplyAsync())[0]);
        Assert.Equal(["421 4.7.0 Too many errors, closing connection"], await client.ReadReplyAsync());
        Assert.Null(await client.ReadLineAsync());
    }

    [Fact]
    public async Task An_idle_client_is_told_421_and_disconnected()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { CommandTimeout = TimeSpan.FromMilliseconds(300) });
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        Assert.Equal(["421 4.4.2 Timeout waiting for input, closing connection"], await client.ReadReplyAsync());
        Assert.Null(await client.ReadLineAsync());
    }

    [Fact]
    public async Task A_stalled_data_transfer_times_out_with_421()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { DataTimeout = TimeSpan.FromMilliseconds(300) });
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        await client.CommandAsync("MAIL FROM:<a@example.com>");
        await client.CommandAsync("RCPT TO:<b@example.com>");
        await client.CommandAsync("DATA");
        await client.SendAsync("partial line");
        Assert.StartsWith("421 4.4.2", (await client.ReadReplyAsync())[0]);
        Assert.Empty(server.Handler.Messages);
    }

    [Fact]
    public async Task Stop_tells_idle_sessions_421_and_lets_a_transaction_finish()
    {
        var server = TestServer.Start();
        await using var idle = await server.ConnectRawAsync();
        await using var busy = await server.ConnectRawAsync();
        await idle.ReadReplyAsync();
        await busy.ReadReplyAsync();
        await busy.CommandAsync("EHLO client.test");
        await busy.CommandAsync("MAIL FROM:<a@example.com>");
        await busy.CommandAsync("RCPT TO:<b@example.com>");

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var stop = server.Server.StopAsync(deadline.Token);
        Assert.Equal(["421 4.3.2 Service shutting down"], await idle.ReadReplyAsync());
        Assert.False(stop.IsCompleted);

        await busy.CommandAsync("DATA");
        Assert.Equal("250 2.0.0 Queued", await busy.CommandLastLineAsync("finished\r\n."));
        Assert.Equal(["421 4.3.2 Service shutting down"], await busy.ReadReplyAsync());
        await stop;
        Assert.Single(server.Handler.Messages);
        await server.DisposeAsync();
    }

    [Fact]
    public async Task Stop_cuts_off_sessions_at_the_deadline()
    {
        var server = TestServer.Start();
        await using var busy = await server.ConnectRawAsync();
        await busy.ReadReplyAsync();
        await busy.CommandAsync("EHLO client.test");
        await busy.CommandAsync("MAIL FROM:<a@example.com>");

        using var deadline = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await server.Server.StopAsync(deadline.Token);
        // Past the deadline the unfinished transaction is refused, never acknowledged; then the line closes.
        Assert.Equal("421 4.3.2 Service shutting down", await busy.ReadLineAsync());
        Assert.Null(await busy.ReadLineAsync());
        Assert.Equal(0, server.Server.SessionCount);
        await server.DisposeAsync();
    }

    private static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static string Plain(string user, string password) => B64("\0" + user + "\0" + password);
}

/// <summary>One certificate for the whole test run: key generation is the slow part.</summary>
internal static class CertificateHolder
{
    private static readonly Lazy<System.Security.Cryptography.X509Certificates.X509Certificate2> Certificate = new(TestCertificate.Create);

    public static System.Security.Cryptography.X509Certificates.X509Certificate2? Provider() => Certificate.Value;
}
