using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using ManycoreMail.Smtp.Internal;
using ManycoreMail.Smtp.Tests.Support;

namespace ManycoreMail.Smtp.Tests;

/// <summary>Small deterministic fuzzing: fixed seeds, so a failure replays exactly.</summary>
public sealed partial class FuzzTests
{
    private static readonly string[] Vocabulary =
    [
        "EHLO fuzz.test", "HELO fuzz.test", "ehlo", "MAIL FROM:<a@example.com>", "MAIL FROM:<>", "mail from: <a@example.com> SIZE=10",
        "MAIL FROM:<a@example.com> SIZE=99999999999", "MAIL FROM:<a@example.com> BODY=8BITMIME", "MAIL FROM:<\"q>uoted\"@example.com>",
        "RCPT TO:<b@example.com>", "RCPT TO:<postmaster>", "RCPT TO:<@r.example:b@example.com>", "RCPT TO:<>", "DATA", "RSET", "NOOP",
        "VRFY x", "EXPN x", "HELP", "AUTH PLAIN", "AUTH LOGIN", "AUTH PLAIN AHVzZXIAc2VjcmV0", "AUTH PLAIN =", "AUTH LOGIN dXNlcg==",
        "c2VjcmV0", "*", "=", "STARTTLS", ".", "..", ". ", "Subject: fuzz", "", "body line", ".hidden", "QUIT",
    ];

    [Fact]
    public async Task Random_command_streams_get_well_formed_replies_and_never_break_the_server()
    {
        var options = TestServer.DefaultOptions with
        {
            AuthEnabled = true,
            TrustedNetworks = [IPNetwork.Parse("127.0.0.0/8")],
            MaxRecipients = 5,
            MaxMessageSize = 4096,
            MaxErrors = 1000,
            AuthFailureDelay = TimeSpan.Zero,
        };
        await using var server = TestServer.Start(options);
        var random = new Random(20260101);
        var connections = 300;
        var sequencesPerConnection = 12;
        var replyLines = 0;
        var badLines = new List<string>();

        // A few connections at a time; each gets its own seed drawn from the master seed.
        var seeds = Enumerable.Range(0, connections).Select(_ => random.Next()).ToArray();
        await Parallel.ForEachAsync(seeds, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (seed, _) =>
        {
            var (lines, bad) = await RunConnectionAsync(server.EndPoint, new Random(seed), sequencesPerConnection);
            Interlocked.Add(ref replyLines, lines);
            if (bad.Count > 0)
            {
                lock (badLines)
                {
                    badLines.AddRange(bad.Select(b => $"seed {seed}: {b}"));
                }
            }
        });

        Assert.Empty(badLines);
        Assert.True(replyLines > connections * 5, $"only {replyLines} reply lines");
        Assert.Empty(server.Logger.Errors);

        // Still serving: a clean transaction works.
        await using var client = await server.ConnectRawAsync();
        Assert.StartsWith("220", (await client.ReadReplyAsync())[0]);
        Assert.StartsWith("250", await client.CommandLastLineAsync("EHLO after.fuzz"));
        Assert.StartsWith("250", await client.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
        Assert.StartsWith("250", await client.CommandLastLineAsync("RCPT TO:<b@example.com>"));
        Assert.StartsWith("354", await client.CommandLastLineAsync("DATA"));
        Assert.StartsWith("250", await client.CommandLastLineAsync("ok\r\n."));
    }

    private static async Task<(int Lines, List<string> Bad)> RunConnectionAsync(IPEndPoint endPoint, Random random, int sequences)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint);
        var bad = new List<string>();
        var lines = 0;
        var reader = Task.Run(async () =>
        {
            var pending = new List<byte>();
            var buffer = new byte[8192];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (true)
            {
                int read;
                try
                {
                    read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                }
                catch (SocketException)
                {
                    read = 0;
                }

                if (read == 0)
                {
                    if (pending.Count > 0)
                    {
                        bad.Add("unterminated: " + Encoding.Latin1.GetString([.. pending]));
                    }

                    return;
                }

                pending.AddRange(buffer.AsSpan(0, read));
                int end;
                while ((end = IndexOfCrLf(pending)) >= 0)
                {
                    var line = Encoding.Latin1.GetString([.. pending.GetRange(0, end)]);
                    pending.RemoveRange(0, end + 2);
                    lines++;
                    if (!ReplyLine().IsMatch(line))
                    {
                        bad.Add(line);
                    }
                }
            }
        });

        try
        {
            for (var s = 0; s < sequences; s++)
            {
                var bytes = Encoding.Latin1.GetBytes(MakeSequence(random));
                // Random write sizes so commands straddle reads.
                var offset = 0;
                while (offset < bytes.Length)
                {
                    var size = Math.Min(bytes.Length - offset, 1 + random.Next(random.Next(2) == 0 ? 8 : 2000));
                    await socket.SendAsync(bytes.AsMemory(offset, size), SocketFlags.None);
                    offset += size;
                }
            }

            await socket.SendAsync("\r\n.\r\nQUIT\r\n"u8.ToArray(), SocketFlags.None);
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The server closed on us (QUIT or 421); what it said so far is still checked.
        }

        await reader;
        return (lines, bad);
    }

    private static string MakeSequence(Random random)
    {
        var text = new StringBuilder();
        var count = 1 + random.Next(8);
        for (var i = 0; i < count; i++)
        {
            var line = Vocabulary[random.Next(Vocabulary.Length)];
            // QUIT ends the connection; keep it rare so sessions live long enough to matter.
            if (line == "QUIT" && random.Next(20) != 0)
            {
                line = "NOOP";
            }

            text.Append(Mutate(line, random));
            text.Append(random.Next(12) switch
            {
                0 => "\n",
                1 => "\r",
                2 => "",
                _ => "\r\n",
            });
        }

        return text.ToString();
    }

    private static string Mutate(string line, Random random)
    {
        switch (random.Next(10))
        {
            case 0:
                return new string((char)random.Next(32, 127), random.Next(400, 2000));
            case 1:
            {
                var chars = new char[random.Next(1, 40)];
                for (var i = 0; i < chars.Length; i++)
                {
                    chars[i] = (char)random.Next(0, 256);
                }

                return new string(chars);
            }

            case 2 when line.Length > 0:
            {
                var chars = line.ToCharArray();
                chars[random.Next(chars.Length)] = (char)random.Next(0, 256);
                return new string(chars);
            }

            case 3 when line.Length > 1:
                return line[..random.Next(line.Length)];
            case 4:
                return random.Next(2) == 0 ? line.ToLowerInvariant() : line.ToUpperInvariant();
            default:
                return line;
        }
    }

    private static int IndexOfCrLf(List<byte> bytes)
    {
        for (var i = 1; i < bytes.Count; i++)
        {
            if (bytes[i - 1] == '\r' && bytes[i] == '\n')
            {
                return i - 1;
            }
        }

        return -1;
    }

    /// <summary>Three digits, then space/dash and printable ASCII (or nothing).</summary>
    [GeneratedRegex(@"^[2-5][0-9][0-9]([ -][\x20-\x7E]*)?$")]
    private static partial Regex ReplyLine();

    [Fact]
    public void Data_decoding_does_not_depend_on_how_the_input_is_split()
    {
        var random = new Random(4242);
        byte[] alphabet = [(byte)'\r', (byte)'\n', (byte)'.', (byte)'a', (byte)' ', 0, 0xC3];
        for (var run = 0; run < 3000; run++)
        {
            var input = new byte[random.Next(0, 64)];
            for (var i = 0; i < input.Length; i++)
            {
                input[i] = alphabet[random.Next(alphabet.Length)];
            }

            var whole = Decode(input, [input.Length]);
            var cuts = new List<int>();
            for (var left = input.Length; left > 0;)
            {
                var size = 1 + random.Next(Math.Min(left, 5));
                cuts.Add(size);
                left -= size;
            }

            var split = Decode(input, cuts);
            Assert.Equal(whole, split);

            // The end is only ever after CR LF "." CR LF (or "." CR LF at the start).
            if (whole.Ended)
            {
                var end = whole.Consumed;
                var ok = (end == 3 && input.AsSpan(0, 3).SequenceEqual(".\r\n"u8))
                    || (end >= 5 && input.AsSpan(end - 5, 5).SequenceEqual("\r\n.\r\n"u8));
                Assert.True(ok, Convert.ToHexString(input));
            }
        }
    }

    private static (bool Ended, int Consumed, string Body, bool Bare) Decode(byte[] input, IEnumerable<int> chunks)
    {
        using var decoder = new SmtpDataDecoder();
        decoder.Begin(100_000, 1000);
        var offset = 0;
        foreach (var chunk in chunks)
        {
            if (decoder.Decode(input.AsSpan(offset, chunk), out var consumed))
            {
                return (true, offset + consumed, Convert.ToHexString(decoder.Message.ToArray()), decoder.SawBareLineBreak);
            }

            offset += chunk;
        }

        return (false, offset, string.Empty, decoder.SawBareLineBreak);
    }
}
