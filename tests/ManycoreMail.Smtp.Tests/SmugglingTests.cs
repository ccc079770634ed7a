using System.Text;
using ManycoreMail.Smtp.Tests.Support;

namespace ManycoreMail.Smtp.Tests;

/// <summary>
/// SMTP smuggling (SEC Consult, December 2023): a sender hides a second transaction behind an end-of-data
/// marker that some server in the path reads differently. Ours must read only CR LF "." CR LF.
/// </summary>
public sealed class SmugglingTests
{
    public static TheoryData<string, string> Variants => new()
    {
        { "LF.LF", "\n.\n" },
        { "LF.CRLF", "\n.\r\n" },
        { "CR.CR", "\r.\r" },
        { "CRLF.LF", "\r\n.\n" },
        { "CRLF.CR", "\r\n.\r" },
        { "CR.CRLF", "\r.\r\n" },
        { "LF.CR", "\n.\r" },
        { "CRLF.CRCRLF", "\r\n.\r\r\n" },
        { "LF.LF no CR at all", "\n.\n\n" },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task A_smuggled_transaction_is_never_a_second_message(string name, string marker)
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO attacker.test");
        await client.CommandAsync("MAIL FROM:<attacker@attacker.test>");
        await client.CommandAsync("RCPT TO:<victim@example.com>");
        Assert.StartsWith("354", await client.CommandLastLineAsync("DATA"));

        var smuggled = "Subject: first\r\n\r\nfirst body" + marker
            + "MAIL FROM:<ceo@trusted.test>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"
            + "Subject: smuggled\r\n\r\nsmuggled body\r\n.\r\n";
        await client.SendAsync(smuggled);

        // The whole thing is one message, and one with bare CR/LF or a stray byte: exactly one reply.
        var reply = await client.ReadReplyAsync();
        Assert.Equal(["550 5.6.0 Bare LF or CR in message not allowed"], reply);
        Assert.Equal(["250 2.0.0 OK"], await client.CommandAsync("NOOP"));

        Assert.Empty(server.Handler.Messages);
        Assert.Equal(["attacker@attacker.test"], server.Handler.ReversePaths.ToArray());
        Assert.DoesNotContain(server.Handler.Messages, m => Encoding.ASCII.GetString(m.Body).Contains("smuggled", StringComparison.Ordinal));
        Assert.False(string.IsNullOrEmpty(name));
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task Split_across_writes_the_marker_still_does_not_end_data(string name, string marker)
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.SendAsync("EHLO attacker.test\r\nMAIL FROM:<a@attacker.test>\r\nRCPT TO:<v@example.com>\r\nDATA\r\n");
        for (var i = 0; i < 4; i++)
        {
            await client.ReadReplyAsync();
        }

        // One byte per write so the marker straddles every possible read boundary.
        foreach (var b in Encoding.Latin1.GetBytes("body" + marker + "MAIL FROM:<x@trusted.test>\r\n"))
        {
            await client.SendAsync([b]);
        }

        await client.SendAsync("\r\n.\r\n");
        Assert.Equal(["550 5.6.0 Bare LF or CR in message not allowed"], await client.ReadReplyAsync());
        Assert.Single(server.Handler.ReversePaths);
        Assert.Empty(server.Handler.Messages);
        Assert.NotEmpty(name);
    }

    [Fact]
    public async Task A_real_end_of_data_followed_by_pipelined_commands_is_two_honest_transactions()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.SendAsync("EHLO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<v@example.com>\r\nDATA\r\n");
        for (var i = 0; i < 4; i++)
        {
            await client.ReadReplyAsync();
        }

        await client.SendAsync("one\r\n.\r\nMAIL FROM:<b@c.test>\r\nRCPT TO:<v@example.com>\r\nDATA\r\n");
        Assert.Equal(["250 2.0.0 Queued"], await client.ReadReplyAsync());
        Assert.StartsWith("250", (await client.ReadReplyAsync())[0]);
        Assert.StartsWith("250", (await client.ReadReplyAsync())[0]);
        Assert.StartsWith("354", (await client.ReadReplyAsync())[0]);
        Assert.Equal("250 2.0.0 Queued", await client.CommandLastLineAsync("two\r\n."));
        Assert.Equal(["one\r\n", "two\r\n"], server.Handler.Messages.Select(m => Encoding.ASCII.GetString(m.Body)).ToArray());
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task Bdat_content_with_a_smuggling_marker_is_refused_whole(string name, string marker)
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO attacker.test");
        await client.CommandAsync("MAIL FROM:<attacker@attacker.test>");
        await client.CommandAsync("RCPT TO:<victim@example.com>");

        // Were this accepted, relaying it later with DATA would hand the marker to the next server.
        var content = "Subject: first\r\n\r\nfirst body" + marker
            + "MAIL FROM:<ceo@trusted.test>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n";
        await client.SendAsync($"BDAT {Encoding.Latin1.GetByteCount(content)} LAST\r\n{content}");
        Assert.Equal(["550 5.6.0 Bare LF or CR in message not allowed"], await client.ReadReplyAsync());
        Assert.Equal(["250 2.0.0 OK"], await client.CommandAsync("NOOP"));
        Assert.Empty(server.Handler.Messages);
        Assert.Single(server.Handler.ReversePaths);
        Assert.NotEmpty(name);
    }

    [Fact]
    public async Task A_strict_end_of_data_inside_a_bdat_chunk_is_just_content()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO c.test");
        await client.CommandAsync("MAIL FROM:<a@c.test>");
        await client.CommandAsync("RCPT TO:<v@example.com>");
        var content = "Subject: one\r\n\r\nbody\r\n.\r\nMAIL FROM:<ceo@trusted.test>\r\nRCPT TO:<v@example.com>\r\nDATA\r\n";
        await client.SendAsync($"BDAT {content.Length} LAST\r\n{content}");
        Assert.Equal(["250 2.0.0 Queued"], await client.ReadReplyAsync());
        var message = Assert.Single(server.Handler.Messages);
        Assert.Equal(content, Encoding.ASCII.GetString(message.Body));
        Assert.Single(server.Handler.ReversePaths);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task A_marker_split_across_bdat_chunks_is_still_refused(string name, string marker)
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectRawAsync();
        await client.ReadReplyAsync();
        await client.SendAsync("EHLO a.test\r\nMAIL FROM:<a@attacker.test>\r\nRCPT TO:<v@example.com>\r\n");
        for (var i = 0; i < 3; i++)
        {
            await client.ReadReplyAsync();
        }

        // One chunk per byte of the marker: the bare CR/LF state must survive chunk boundaries.
        var text = "body" + marker + "more\r\n";
        foreach (var c in text)
        {
            await client.SendAsync($"BDAT 1\r\n{c}");
            Assert.Equal(["250 2.0.0 1 octets received"], await client.ReadReplyAsync());
        }

        Assert.Equal("550 5.6.0 Bare LF or CR in message not allowed", await client.CommandLastLineAsync("BDAT 0 LAST"));
        Assert.Empty(server.Handler.Messages);
        Assert.NotEmpty(name);
    }
}
