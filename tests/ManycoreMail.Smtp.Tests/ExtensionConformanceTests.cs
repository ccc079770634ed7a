using System.Text;
using ManycoreMail.Smtp.Server;
using ManycoreMail.Smtp.Tests.Support;

namespace ManycoreMail.Smtp.Tests;

/// <summary>Raw-socket conformance for SMTPUTF8 (RFC 6531), CHUNKING/BDAT (RFC 3030), DSN (RFC 3461) and
/// enhanced status codes (RFC 2034), with the exact replies.</summary>
public sealed class ExtensionConformanceTests
{
    private static async Task<RawSmtpClient> GreetedAsync(TestServer server, string ehlo = "EHLO client.test")
    {
        var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        Assert.StartsWith("250 ", await client.CommandLastLineAsync(ehlo));
        return client;
    }

    /// <summary>Sends a BDAT command with its chunk (no CR LF after the chunk) and returns the reply's last line.</summary>
    private static async Task<string> ChunkAsync(RawSmtpClient client, string command, string chunk)
    {
        await client.SendAsync(command + "\r\n" + chunk);
        return (await client.ReadReplyAsync())[^1];
    }

    private static Task SendUtf8Async(RawSmtpClient client, string text) => client.SendAsync(Encoding.UTF8.GetBytes(text));

    private static async Task<string> CommandUtf8Async(RawSmtpClient client, string line)
    {
        await SendUtf8Async(client, line + "\r\n");
        return (await client.ReadReplyAsync())[^1];
    }

    [Fact]
    public async Task Utf8_addresses_need_the_smtputf8_parameter_and_idn_domains_become_a_labels()
    {
        await using var server = TestServer.Start();
        await using var client = await GreetedAsync(server);

        Assert.Equal("553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter", await CommandUtf8Async(client, "MAIL FROM:<jörg@bücher.example>"));
        Assert.Equal("250 2.0.0 Sender OK", await CommandUtf8Async(client, "MAIL FROM:<jörg@Bücher.example> SMTPUTF8"));
        Assert.Equal("250 2.0.0 Recipient OK", await CommandUtf8Async(client, "RCPT TO:<δοκιμή@παράδειγμα.δοκιμή>"));
        Assert.Equal("250 2.0.0 Recipient OK", await CommandUtf8Async(client, "RCPT TO:<plain@xn--bcher-kva.example>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandLastLineAsync("DATA"));
        await SendUtf8Async(client, "Subject: grüße\r\n\r\nbody\r\n.\r\n");
        Assert.Equal(["250 2.0.0 Queued"], await client.ReadReplyAsync());

        var message = Assert.Single(server.Handler.Messages);
        Assert.True(message.Envelope.Mail.Utf8);
        Assert.Equal("jörg@xn--bcher-kva.example", message.Envelope.ReversePath);
        Assert.Equal(["δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp", "plain@xn--bcher-kva.example"], message.Envelope.Recipients);
        Assert.Equal("Subject: grüße\r\n\r\nbody\r\n", Encoding.UTF8.GetString(message.Body));
    }

    [Fact]
    public async Task A_utf8_recipient_in_an_ascii_transaction_and_broken_utf8_are_refused()
    {
        await using var server = TestServer.Start();
        await using var client = await GreetedAsync(server);
        Assert.Equal("250 2.0.0 Sender OK", await client.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal("553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter", await CommandUtf8Async(client, "RCPT TO:<ü@example.com>"));
        Assert.Equal("250 2.0.0 OK", await client.CommandLastLineAsync("RSET"));
        Assert.Equal("250 2.0.0 Sender OK", await client.CommandLastLineAsync("MAIL FROM:<a@example.com> SMTPUTF8"));
        // An overlong encoding of "@" and a lone continuation byte are not UTF-8.
        await client.SendAsync([.. "RCPT TO:<a"u8, 0xC0, 0x80, .. "@example.com>\r\n"u8]);
        Assert.Equal("501 5.1.3 Bad recipient address syntax", (await client.ReadReplyAsync())[^1]);
        await client.SendAsync([.. "RCPT TO:<a@ex"u8, 0x80, .. "ample.com>\r\n"u8]);
        Assert.Equal("501 5.1.3 Bad recipient address syntax", (await client.ReadReplyAsync())[^1]);
        Assert.Equal("250 2.0.0 OK", await client.CommandLastLineAsync("RSET"));
        Assert.Equal("501 5.5.4 Bad MAIL parameter syntax", await client.CommandLastLineAsync("MAIL FROM:<a@example.com> SMTPUTF8=yes"));
        Assert.Empty(server.Handler.Messages);
    }

    [Fact]
    public async Task Smtputf8_switched_off_is_not_offered_and_its_parameter_is_unknown()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { Smtputf8 = false, Chunking = false, Dsn = false });
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        var ehlo = await client.CommandAsync("EHLO client.test");
        Assert.DoesNotContain("250-SMTPUTF8", ehlo);
        Assert.DoesNotContain("250-CHUNKING", ehlo);
        Assert.DoesNotContain("250-DSN", ehlo);
        Assert.Equal("555 5.5.4 Unsupported MAIL parameter", await client.CommandLastLineAsync("MAIL FROM:<a@example.com> SMTPUTF8"));
        Assert.Equal("555 5.5.4 Unsupported MAIL parameter", await client.CommandLastLineAsync("MAIL FROM:<a@example.com> RET=FULL"));
        Assert.Equal("500 5.5.1 Command unrecognized", await client.CommandLastLineAsync("BDAT 0 LAST"));
    }

    [Fact]
    public async Task Bdat_chunks_make_one_message_taken_byte_for_byte()
    {
        await using var server = TestServer.Start();
        await using var client = await GreetedAsync(server);
        // Pipelined, as RFC 3030 allows: the chunk octets follow their command directly.
        var first = "Subject: chunks\r\n\r\n.line with a leading dot\r\n";
        var second = "\r\n.\r\nnot an end of data\r\n";
        await client.SendAsync($"MAIL FROM:<a@example.com> BODY=8BITMIME\r\nRCPT TO:<b@example.com>\r\nBDAT {first.Length}\r\n{first}BDAT {second.Length} LAST\r\n{second}NOOP\r\n");
        Assert.Equal(["250 2.0.0 Sender OK"], await client.ReadReplyAsync());
        Assert.Equal(["250 2.0.0 Recipient OK"], await client.ReadReplyAsync());
        Assert.Equal([$"250 2.0.0 {first.Length} octets received"], await client.ReadReplyAsync());
        Assert.Equal(["250 2.0.0 Queued"], await client.ReadReplyAsync());
        Assert.Equal(["250 2.0.0 OK"], await client.ReadReplyAsync());

        var message = Assert.Single(server.Handler.Messages);
        Assert.Equal(first + second, Encoding.ASCII.GetString(message.Body));
        Assert.True(message.Envelope.Chunked);
        Assert.Equal(SmtpBodyType.EightBitMime, message.Envelope.Mail.Body);
    }

    [Fact]
    public async Task Bdat_zero_last_ends_the_message_and_a_new_transaction_may_follow()
    {
        await using var server = TestServer.Start();
        await using var client = await GreetedAsync(server);
        await client.SendAsync("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nBDAT 6\r\nhello\nBDAT 0 LAST\r\n");
        await client.ReadReplyAsync();
        await client.ReadReplyAsync();
        Assert.Equal(["250 2.0.0 6 octets received"], await client.ReadReplyAsync());
        // The LF alone is a bare line break: refused at the end, as in DATA.
        Assert.Equal(["550 5.6.0 Bare LF or CR in message not allowed"], await client.ReadReplyAsync());

        await client.SendAsync("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nBDAT 7 LAST\r\nhello\r\n");
        await client.ReadReplyAsync();
        await client.ReadReplyAsync();
        Assert.Equal(["250 2.0.0 Queued"], await client.ReadReplyAsync());
        Assert.Equal("hello\r\n", Encoding.ASCII.GetString(Assert.Single(server.Handler.Messages).Body));
    }

    [Fact]
    public async Task Bdat_out_of_sequence_still_consumes_its_chunk()
    {
        await using var server = TestServer.Start();
        await using var client = await GreetedAsync(server);
        // Were the chunk not skipped, its content would run as commands.
        Assert.Equal("503 5.5.1 Need MAIL command", await ChunkAsync(client, "BDAT 12 LAST", "QUIT\r\nQUIT\r\n"));
        Assert.Equal("250 2.0.0 Sender OK", await client.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal("503 5.5.1 Need RCPT command", await ChunkAsync(client, "BDAT 6", "RSET\r\n"));
        Assert.Equal("250 2.0.0 Recipient OK", await client.CommandLastLineAsync("RCPT TO:<b@example.com>"));
        Assert.Equal("250 2.0.0 3 octets received", await ChunkAsync(client, "BDAT 3", "abc"));
        Assert.Equal("503 5.5.1 DATA not allowed after BDAT", await client.CommandLastLineAsync("DATA"));
        Assert.Equal("503 5.5.1 RCPT not allowed after BDAT", await client.CommandLastLineAsync("RCPT TO:<c@example.com>"));
        Assert.Equal("501 5.5.4 Syntax: BDAT chunk-size [LAST]", await client.CommandLastLineAsync("BDAT -1"));
        Assert.Equal("501 5.5.4 Syntax: BDAT chunk-size [LAST]", await client.CommandLastLineAsync("BDAT 1 FIRST"));
        Assert.Equal("250 2.0.0 Queued", await ChunkAsync(client, "BDAT 2 LAST", "de"));
        Assert.Equal("abcde", Encoding.ASCII.GetString(Assert.Single(server.Handler.Messages).Body));
    }

    [Fact]
    public async Task Bdat_over_the_size_limit_is_read_refused_with_552_and_ends_the_transaction()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { MaxMessageSize = 100 });
        await using var client = await GreetedAsync(server);
        await client.CommandAsync("MAIL FROM:<a@example.com>");
        await client.CommandAsync("RCPT TO:<b@example.com>");
        Assert.Equal("250 2.0.0 60 octets received", await ChunkAsync(client, "BDAT 60", new string('a', 59) + "\r"));
        Assert.Equal("552 5.3.4 Message size exceeds fixed maximum message size", await ChunkAsync(client, "BDAT 60", "\n" + new string('b', 59)));
        Assert.Equal("503 5.5.1 Need MAIL command", await ChunkAsync(client, "BDAT 2 LAST", "xx"));
        Assert.Equal("250 2.0.0 OK", await client.CommandLastLineAsync("NOOP"));
        Assert.Empty(server.Handler.Messages);
    }

    [Fact]
    public async Task Rset_between_chunks_drops_the_partial_message()
    {
        await using var server = TestServer.Start();
        await using var client = await GreetedAsync(server);
        await client.CommandAsync("MAIL FROM:<a@example.com>");
        await client.CommandAsync("RCPT TO:<b@example.com>");
        Assert.Equal("250 2.0.0 5 octets received", await ChunkAsync(client, "BDAT 5", "first"));
        Assert.Equal("250 2.0.0 OK", await client.CommandLastLineAsync("RSET"));
        await client.CommandAsync("MAIL FROM:<a@example.com>");
        await client.CommandAsync("RCPT TO:<b@example.com>");
        Assert.Equal("250 2.0.0 Queued", await ChunkAsync(client, "BDAT 8 LAST", "second\r\n"));
        Assert.Equal("second\r\n", Encoding.ASCII.GetString(Assert.Single(server.Handler.Messages).Body));
    }

    [Fact]
    public async Task Dsn_parameters_are_parsed_and_reach_the_handler()
    {
        await using var server = TestServer.Start();
        await using var client = await GreetedAsync(server);
        Assert.Equal("250 2.0.0 Sender OK", await client.CommandLastLineAsync("MAIL FROM:<a@example.com> RET=HDRS ENVID=QQ314159+2Bx SIZE=100"));
        Assert.Equal("250 2.0.0 Recipient OK", await client.CommandLastLineAsync("RCPT TO:<b@example.com> NOTIFY=SUCCESS,delay ORCPT=rfc822;b+2Bold@example.com"));
        Assert.Equal("250 2.0.0 Recipient OK", await client.CommandLastLineAsync("RCPT TO:<c@example.com> NOTIFY=NEVER"));
        Assert.Equal("250 2.0.0 Recipient OK", await client.CommandLastLineAsync("RCPT TO:<d@example.com>"));
        await client.CommandAsync("DATA");
        Assert.Equal("250 2.0.0 Queued", await client.CommandLastLineAsync("x\r\n."));

        var envelope = Assert.Single(server.Handler.Messages).Envelope;
        Assert.Equal(DsnReturn.Headers, envelope.Mail.Return);
        Assert.Equal("QQ314159+x", envelope.Mail.EnvelopeId);
        Assert.Equal(100, envelope.Mail.DeclaredSize);
        Assert.Equal(
            [
                new SmtpRecipient("b@example.com", DsnNotify.Success | DsnNotify.Delay, "rfc822", "b+old@example.com"),
                new SmtpRecipient("c@example.com", DsnNotify.Never),
                new SmtpRecipient("d@example.com"),
            ],
            envelope.RecipientDetails);
        Assert.Equal(["b@example.com", "c@example.com", "d@example.com"], envelope.Recipients);
    }

    [Theory]
    [InlineData("MAIL FROM:<a@example.com> RET=ALL", "501 5.5.4 Bad RET parameter")]
    [InlineData("MAIL FROM:<a@example.com> RET=FULL RET=FULL", "501 5.5.4 Duplicate MAIL parameter")]
    [InlineData("MAIL FROM:<a@example.com> ENVID=a=b", "501 5.5.4 Bad ENVID parameter")]
    [InlineData("MAIL FROM:<a@example.com> ENVID=+0A", "501 5.5.4 Bad ENVID parameter")]
    [InlineData("MAIL FROM:<a@example.com> ENVID=+4", "501 5.5.4 Bad ENVID parameter")]
    [InlineData("MAIL FROM:<a@example.com> RET=", "501 5.5.4 Bad MAIL parameter syntax")]
    [InlineData("MAIL FROM:<a@example.com> BODY=BINARYMIME", "501 5.5.4 Unsupported BODY type")]
    [InlineData("MAIL FROM:<a@example.com> FOO=BAR", "555 5.5.4 Unsupported MAIL parameter")]
    public async Task Bad_mail_parameters_get_exact_replies(string command, string expected)
    {
        await using var server = TestServer.Start();
        await using var client = await GreetedAsync(server);
        Assert.Equal(expected, await client.CommandLastLineAsync(command));
        Assert.Empty(server.Handler.ReversePaths);
    }

    [Theory]
    [InlineData("NOTIFY=NEVER,SUCCESS", "501 5.5.4 Bad NOTIFY parameter")]
    [InlineData("NOTIFY=SOMETIMES", "501 5.5.4 Bad NOTIFY parameter")]
    [InlineData("NOTIFY=FAILURE NOTIFY=DELAY", "501 5.5.4 Bad NOTIFY parameter")]
    [InlineData("ORCPT=b@example.com", "501 5.5.4 Bad ORCPT parameter")]
    [InlineData("ORCPT=rfc822;", "501 5.5.4 Bad ORCPT parameter")]
    [InlineData("ORCPT=rfc 822;b@example.com", "501 5.5.4 Bad ORCPT parameter")]
    [InlineData("FOO", "555 5.5.4 Unsupported RCPT parameter")]
    public async Task Bad_rcpt_parameters_get_exact_replies(string parameters, string expected)
    {
        await using var server = TestServer.Start();
        await using var client = await GreetedAsync(server);
        await client.CommandAsync("MAIL FROM:<a@example.com>");
        Assert.Equal(expected, await client.CommandLastLineAsync("RCPT TO:<b@example.com> " + parameters));
        Assert.Empty(server.Handler.Recipients);
    }

    [Fact]
    public async Task Dsn_lengthens_mail_and_rcpt_lines_but_no_other_command()
    {
        await using var server = TestServer.Start();
        await using var client = await GreetedAsync(server);
        var envelopeId = new string('e', 100);
        Assert.Equal("250 2.0.0 Sender OK", await client.CommandLastLineAsync($"MAIL FROM:<{new string('a', 64)}@{new string('d', 200)}.example> ENVID={envelopeId} SIZE=10 BODY=8BITMIME"));
        var orcpt = "rfc822;" + new string('o', 400) + "@example.com";
        Assert.Equal("250 2.0.0 Recipient OK", await client.CommandLastLineAsync($"RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT={orcpt}"));
        Assert.Equal("500 5.5.2 Line too long", await client.CommandLastLineAsync("NOOP " + new string('x', 600)));
    }

    [Fact]
    public async Task Every_reply_after_the_greeting_carries_an_enhanced_status_code()
    {
        var options = TestServer.DefaultOptions with { CertificateProvider = CertificateHolder.Provider, AuthEnabled = true, MaxErrors = 100 };
        await using var server = TestServer.Start(options);
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        string[] commands =
        [
            "HELO x", "EHLO x", "NOOP", "RSET", "VRFY x", "EXPN x", "HELP", "FOO", "MAIL", "MAIL FROM:<a@example.com>", "RCPT TO:<>",
            "RCPT TO:<b@example.com>", "AUTH PLAIN", "STARTTLS x", "DATA x", "BDAT x", "RCPT TO:<b@example.com> FOO",
        ];
        foreach (var command in commands)
        {
            var reply = await client.CommandAsync(command);
            if (command.StartsWith("EHLO", StringComparison.Ordinal) || command.StartsWith("HELO", StringComparison.Ordinal))
            {
                continue; // RFC 2034 §3: the EHLO/HELO reply is the exception.
            }

            var last = reply[^1];
            Assert.Matches($@"^{last[0]}\d\d {last[0]}\.\d{{1,3}}\.\d{{1,3}} ", last);
        }

        Assert.Equal(["221 2.0.0 mx.test closing connection"], await client.CommandAsync("QUIT"));
    }
}
