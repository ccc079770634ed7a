using ManycoreMail.Smtp.Client;
using ManycoreMail.Smtp.Tests.Support;

namespace ManycoreMail.Smtp.Tests;

/// <summary>Client behaviour against scripted servers: fallbacks, odd replies, failures.</summary>
public sealed class ClientAgainstScriptTests
{
    private static readonly SmtpClientOptions Options = new()
    {
        HeloName = "client.test",
        TlsMode = SmtpTlsMode.Opportunistic,
        CommandTimeout = TimeSpan.FromSeconds(20),
        DataTimeout = TimeSpan.FromSeconds(20),
    };

    [Fact]
    public async Task Ehlo_refused_falls_back_to_helo_and_sends_without_extensions()
    {
        await using var peer = new ScriptedPeer(async c =>
        {
            await c.SendAsync("220 old.test SMTP\r\n");
            await c.ExpectAsync("EHLO client.test");
            await c.SendAsync("502 Command not implemented\r\n");
            await c.ExpectAsync("HELO client.test");
            await c.SendAsync("250 old.test\r\n");
            await c.ExpectAsync("MAIL FROM:<a@example.com>");
            Assert.Equal(0, c.BufferedLineCount);
            await c.SendAsync("250 ok\r\n");
            await c.ExpectAsync("RCPT TO:<b@example.com>");
            await c.SendAsync("250 ok\r\n");
            await c.ExpectAsync("DATA");
            await c.SendAsync("354 go\r\n");
            await c.ExpectAsync("..dot");
            await c.ExpectAsync(".");
            await c.SendAsync("250 queued\r\n");
        });

        await using var client = await SmtpClientConnection.ConnectAsync(peer.EndPoint, Options, CancellationToken.None);
        Assert.False(client.IsExtended);
        Assert.Empty(client.Capabilities);
        var result = await client.SendAsync("a@example.com", ["b@example.com"], ".dot"u8.ToArray(), CancellationToken.None);
        Assert.Equal(new SmtpReply(250, null, "queued"), result.DataReply);
        await peer.Completion;
    }

    [Fact]
    public async Task With_pipelining_mail_all_rcpts_and_data_go_in_one_write_and_size_and_8bitmime_are_declared()
    {
        await using var peer = new ScriptedPeer(async c =>
        {
            await c.SendAsync("220 mx.test ESMTP\r\n");
            await c.ExpectAsync("EHLO");
            await c.SendAsync("250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n");
            Assert.Equal("MAIL FROM:<a@example.com> SIZE=7 BODY=8BITMIME", await c.ReadLineAsync());
            Assert.Equal(3, c.BufferedLineCount);
            await c.ExpectAsync("RCPT TO:<b@example.com>");
            await c.ExpectAsync("RCPT TO:<c@example.com>");
            await c.ExpectAsync("DATA");
            await c.SendAsync("250 2.1.0 ok\r\n550 5.1.1 no such user\r\n250 2.1.5 ok\r\n354 go\r\n");
            await c.ExpectAsync("\u00c3\u00a9t\u00c3\u00a9");
            await c.ExpectAsync(".");
            await c.SendAsync("250 2.0.0 queued\r\n");
        });

        await using var client = await SmtpClientConnection.ConnectAsync(peer.EndPoint, Options, CancellationToken.None);
        var result = await client.SendAsync("a@example.com", ["b@example.com", "c@example.com"], "été\r\n"u8.ToArray(), CancellationToken.None);
        Assert.Equal([550, 250], result.RecipientReplies.Select(r => r.Reply.Code).ToArray());
        Assert.Equal("5.1.1", result.RecipientReplies[0].Reply.EnhancedStatus);
        Assert.Equal(250, result.DataReply?.Code);
        await peer.Completion;
    }

    [Fact]
    public async Task Auth_login_is_used_when_plain_is_not_offered()
    {
        await using var peer = new ScriptedPeer(async c =>
        {
            await c.SendAsync("220 mx.test ESMTP\r\n");
            await c.ExpectAsync("EHLO");
            await c.SendAsync("250-mx.test\r\n250 AUTH LOGIN CRAM-MD5\r\n");
            await c.ExpectAsync("AUTH LOGIN");
            await c.SendAsync("334 VXNlcm5hbWU6\r\n");
            Assert.Equal(Convert.ToBase64String("user"u8.ToArray()), await c.ReadLineAsync());
            await c.SendAsync("334 UGFzc3dvcmQ6\r\n");
            Assert.Equal(Convert.ToBase64String("pässword"u8.ToArray()), await c.ReadLineAsync());
            await c.SendAsync("235 2.7.0 ok\r\n");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye\r\n");
        });

        await using var client = await SmtpClientConnection.ConnectAsync(peer.EndPoint, Options, CancellationToken.None);
        await client.AuthenticateAsync("user", "pässword", CancellationToken.None);
        await client.QuitAsync(CancellationToken.None);
        await peer.Completion;
    }

    [Fact]
    public async Task Multi_line_replies_with_enhanced_codes_are_joined()
    {
        await using var peer = new ScriptedPeer(async c =>
        {
            await c.SendAsync("220-mx.test ESMTP\r\n220-second greeting line\r\n220 third\r\n");
            await c.ExpectAsync("EHLO");
            await c.SendAsync("250-mx.test\r\n250 ENHANCEDSTATUSCODES\r\n");
            await c.ExpectAsync("RSET");
            await c.SendAsync("550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 third\r\n");
        });

        await using var client = await SmtpClientConnection.ConnectAsync(peer.EndPoint, Options, CancellationToken.None);
        Assert.Equal("mx.test ESMTP\nsecond greeting line\nthird", client.Greeting.Text);
        var error = await Assert.ThrowsAsync<SmtpClientException>(() => client.ResetAsync(CancellationToken.None));
        Assert.Equal(new SmtpReply(550, "5.7.1", "first\nsecond\nthird"), error.Reply);
    }

    [Fact]
    public async Task Required_tls_without_starttls_offered_is_a_starttls_exception_and_nothing_is_sent_in_plain_text()
    {
        await using var peer = new ScriptedPeer(async c =>
        {
            await c.SendAsync("220 mx.test ESMTP\r\n");
            await c.ExpectAsync("EHLO");
            await c.SendAsync("250-mx.test\r\n250 PIPELINING\r\n");
        });

        var error = await Assert.ThrowsAsync<SmtpStartTlsException>(() =>
            SmtpClientConnection.ConnectAsync(peer.EndPoint, Options with { TlsMode = SmtpTlsMode.Required }, CancellationToken.None));
        Assert.Contains("does not offer STARTTLS", error.Message, StringComparison.Ordinal);
        Assert.Null(error.Reply);
        await peer.Completion;
    }

    [Fact]
    public async Task Required_tls_with_starttls_refused_is_a_starttls_exception_with_the_reply()
    {
        await using var peer = new ScriptedPeer(async c =>
        {
            await c.SendAsync("220 mx.test ESMTP\r\n");
            await c.ExpectAsync("EHLO");
            await c.SendAsync("250-mx.test\r\n250 STARTTLS\r\n");
            await c.ExpectAsync("STARTTLS");
            await c.SendAsync("454 4.7.0 TLS not available due to temporary reason\r\n");
        });

        var error = await Assert.ThrowsAsync<SmtpStartTlsException>(() =>
            SmtpClientConnection.ConnectAsync(peer.EndPoint, Options with { TlsMode = SmtpTlsMode.Required }, CancellationToken.None));
        Assert.Equal(454, error.Reply?.Code);
        await peer.Completion;
    }

    [Fact]
    public async Task A_421_greeting_throws_with_the_reply()
    {
        await using var peer = new ScriptedPeer(c => c.SendAsync("421 4.3.2 busy, try later\r\n"));
        var error = await Assert.ThrowsAsync<SmtpClientException>(() => SmtpClientConnection.ConnectAsync(peer.EndPoint, Options, CancellationToken.None));
        Assert.Equal(421, error.Reply?.Code);
    }

    [Fact]
    public async Task A_554_greeting_is_a_refusal()
    {
        await using var peer = new ScriptedPeer(c => c.SendAsync("554 5.7.1 go away\r\n"));
        var error = await Assert.ThrowsAsync<SmtpClientException>(() => SmtpClientConnection.ConnectAsync(peer.EndPoint, Options, CancellationToken.None));
        Assert.Equal(554, error.Reply?.Code);
    }

    [Fact]
    public async Task A_malformed_reply_throws()
    {
        await using var peer = new ScriptedPeer(c => c.SendAsync("HTTP/1.1 400 Bad Request\r\n"));
        var error = await Assert.ThrowsAsync<SmtpClientException>(() => SmtpClientConnection.ConnectAsync(peer.EndPoint, Options, CancellationToken.None));
        Assert.Contains("Malformed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_silent_server_times_out()
    {
        var gate = new TaskCompletionSource();
        await using var peer = new ScriptedPeer(_ => gate.Task);
        var options = Options with { CommandTimeout = TimeSpan.FromMilliseconds(300) };
        var error = await Assert.ThrowsAsync<SmtpClientException>(() => SmtpClientConnection.ConnectAsync(peer.EndPoint, options, CancellationToken.None));
        Assert.Contains("Timed out", error.Message, StringComparison.Ordinal);
        gate.SetResult();
    }

    [Fact]
    public async Task Starttls_refused_is_tolerated_when_opportunistic()
    {
        await using var peer = new ScriptedPeer(async c =>
        {
            await c.SendAsync("220 mx.test ESMTP\r\n");
            await c.ExpectAsync("EHLO");
            await c.SendAsync("250-mx.test\r\n250 STARTTLS\r\n");
            await c.ExpectAsync("STARTTLS");
            await c.SendAsync("454 4.7.0 TLS not available\r\n");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 bye\r\n");
        });

        await using var client = await SmtpClientConnection.ConnectAsync(peer.EndPoint, Options, CancellationToken.None);
        Assert.False(client.IsTls);
        await client.QuitAsync(CancellationToken.None);
        await peer.Completion;
    }

    [Fact]
    public async Task A_broken_tls_handshake_says_tls_failed()
    {
        await using var peer = new ScriptedPeer(async c =>
        {
            await c.SendAsync("220 mx.test ESMTP\r\n");
            await c.ExpectAsync("EHLO");
            await c.SendAsync("250-mx.test\r\n250 STARTTLS\r\n");
            await c.ExpectAsync("STARTTLS");
            await c.SendAsync("220 go ahead\r\nthis is not a TLS server hello at all\r\n");
        });

        var error = await Assert.ThrowsAsync<SmtpClientException>(() => SmtpClientConnection.ConnectAsync(peer.EndPoint, Options, CancellationToken.None));
        Assert.Contains("TLS failed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Addresses_with_line_breaks_are_rejected_before_sending_and_the_connection_stays_usable()
    {
        await using var peer = new ScriptedPeer(async c =>
        {
            await c.SendAsync("220 mx.test ESMTP\r\n");
            await c.ExpectAsync("EHLO");
            await c.SendAsync("250 mx.test\r\n");
            // The refused address wrote nothing: the next line is the next transaction's.
            await c.ExpectAsync("MAIL FROM:<a@example.com>");
            await c.SendAsync("250 ok\r\n");
            await c.ExpectAsync("RCPT TO:<c@example.com>");
            await c.SendAsync("250 ok\r\n");
            await c.ExpectAsync("DATA");
            await c.SendAsync("354 go\r\n");
            await c.ExpectAsync("x");
            await c.ExpectAsync(".");
            await c.SendAsync("250 queued\r\n");
        });

        await using var client = await SmtpClientConnection.ConnectAsync(peer.EndPoint, Options, CancellationToken.None);
        var error = await Assert.ThrowsAsync<SmtpAddressException>(() => client.SendAsync("a@example.com", ["b@example.com>\r\nRCPT TO:<c@example.com"], "x\r\n"u8.ToArray(), CancellationToken.None));
        Assert.Equal("b@example.com>\r\nRCPT TO:<c@example.com", error.Address);
        var result = await client.SendAsync("a@example.com", ["c@example.com"], "x\r\n"u8.ToArray(), CancellationToken.None);
        Assert.Equal(250, result.DataReply?.Code);
    }

    [Fact]
    public async Task A_quoted_local_part_is_written_as_one_quoted_string_in_mail_and_rcpt()
    {
        await using var peer = new ScriptedPeer(async c =>
        {
            await c.SendAsync("220 mx.test ESMTP\r\n");
            await c.ExpectAsync("EHLO");
            await c.SendAsync("250-mx.test\r\n250 PIPELINING\r\n");
            Assert.Equal("MAIL FROM:<\"a b\"@example.com>", await c.ReadLineAsync());
            Assert.Equal("RCPT TO:<\"x>y\"@example.net>", await c.ReadLineAsync());
            Assert.Equal("RCPT TO:<\"q\\\"uote.d\"@example.net>", await c.ReadLineAsync());
            await c.ExpectAsync("DATA");
            await c.SendAsync("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
            await c.ExpectAsync("x");
            await c.ExpectAsync(".");
            await c.SendAsync("250 queued\r\n");
        });

        await using var client = await SmtpClientConnection.ConnectAsync(peer.EndPoint, Options, CancellationToken.None);
        var result = await client.SendAsync("\"a b\"@example.com", ["\"x>y\"@example.net", "\"q\\\"uote\".d@example.net"], "x\r\n"u8.ToArray(), CancellationToken.None);

        Assert.Equal(["\"x>y\"@example.net", "\"q\\\"uote\".d@example.net"], result.RecipientReplies.Select(r => r.Recipient));
        Assert.Equal(250, result.DataReply?.Code);
        await peer.Completion;
    }

    [Fact]
    public async Task With_pipelining_a_refused_data_after_every_rcpt_was_refused_sends_no_body_and_resets()
    {
        await using var peer = new ScriptedPeer(async c =>
        {
            await c.SendAsync("220 mx.test ESMTP\r\n");
            await c.ExpectAsync("EHLO");
            await c.SendAsync("250-mx.test\r\n250 PIPELINING\r\n");
            await c.ExpectAsync("MAIL FROM:<a@example.com>");
            await c.ExpectAsync("RCPT TO:<b@example.com>");
            await c.ExpectAsync("DATA");
            await c.SendAsync("250 ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid recipients\r\n");
            await c.ExpectAsync("RSET");
            await c.SendAsync("250 reset\r\n");
        });

        await using var client = await SmtpClientConnection.ConnectAsync(peer.EndPoint, Options, CancellationToken.None);
        var result = await client.SendAsync("a@example.com", ["b@example.com"], "body\r\n"u8.ToArray(), CancellationToken.None);
        Assert.Equal(550, Assert.Single(result.RecipientReplies).Reply.Code);
        Assert.Null(result.DataReply);
        await peer.Completion;
    }

    [Fact]
    public async Task With_pipelining_a_server_that_takes_data_without_a_recipient_gets_an_empty_message_not_the_body()
    {
        await using var peer = new ScriptedPeer(async c =>
        {
            await c.SendAsync("220 mx.test ESMTP\r\n");
            await c.ExpectAsync("EHLO");
            await c.SendAsync("250-mx.test\r\n250 PIPELINING\r\n");
            await c.ExpectAsync("MAIL FROM:<a@example.com>");
            await c.ExpectAsync("RCPT TO:<b@example.com>");
            await c.ExpectAsync("DATA");
            await c.SendAsync("250 ok\r\n550 5.1.1 no such user\r\n354 go ahead anyway\r\n");
            await c.ExpectAsync(".");
            await c.SendAsync("554 5.5.1 no valid recipients\r\n");
            await c.ExpectAsync("RSET");
            await c.SendAsync("250 reset\r\n");
        });

        await using var client = await SmtpClientConnection.ConnectAsync(peer.EndPoint, Options, CancellationToken.None);
        var result = await client.SendAsync("a@example.com", ["b@example.com"], "secret body\r\n"u8.ToArray(), CancellationToken.None);
        Assert.Null(result.DataReply);
        await peer.Completion;
    }
}
