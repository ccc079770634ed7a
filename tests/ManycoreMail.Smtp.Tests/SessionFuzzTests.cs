using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using ManycoreMail.Smtp.Internal;
using ManycoreMail.Smtp.Server;
using ManycoreMail.Smtp.Tests.Support;

namespace ManycoreMail.Smtp.Tests;

/// <summary>
/// Deterministic fuzzing of the command parser and the session state machine: 100,000 sessions, each a
/// random (and randomly mutated) conversation, driven over an in-memory duplex stream so no socket slows it
/// down. Every reply must be well formed, carry an enhanced status code where RFC 2034 wants one, and the
/// session must end without an unhandled exception. A failure names its case number: <c>new Random(Seed + n)</c>
/// replays it exactly.
/// </summary>
public sealed partial class SessionFuzzTests
{
    private const int Cases = 100_000;
    private const int Seed = 65313030;

    private static readonly IPEndPoint Remote = new(IPAddress.Parse("127.0.0.1"), 40000);
    private static readonly IPEndPoint Local = new(IPAddress.Parse("127.0.0.1"), 25);

    private static readonly string[] Vocabulary =
    [
        "EHLO fuzz.test", "HELO fuzz.test", "EHLO bücher.example", "ehlo", "MAIL FROM:<a@example.com>", "MAIL FROM:<>",
        "mail from: <a@example.com> SIZE=10", "MAIL FROM:<a@example.com> SIZE=99999999999", "MAIL FROM:<a@example.com> BODY=8BITMIME",
        "MAIL FROM:<jörg@bücher.example> SMTPUTF8", "MAIL FROM:<jörg@bücher.example>", "MAIL FROM:<a@example.com> RET=FULL ENVID=x+2By",
        "MAIL FROM:<a@example.com> RET=HDRS RET=HDRS", "MAIL FROM:<\"q>uoted\"@example.com>", "MAIL FROM:<a@example.com> AUTH=<>",
        "RCPT TO:<b@example.com>", "RCPT TO:<postmaster>", "RCPT TO:<@r.example:b@example.com>", "RCPT TO:<>", "RCPT TO:<δ@παράδειγμα.δοκιμή>",
        "RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2B@example.com", "RCPT TO:<b@example.com> NOTIFY=NEVER,DELAY",
        "RCPT TO:<b@xn--bcher-kva.example> ORCPT=utf-8;b", "DATA", "BDAT 5", "BDAT 0 LAST", "BDAT 3 LAST", "BDAT 12", "BDAT 999999999999", "BDAT",
        "RSET", "NOOP", "VRFY x", "EXPN x", "HELP", "AUTH PLAIN", "AUTH LOGIN", "AUTH PLAIN AHVzZXIAc2VjcmV0", "AUTH PLAIN AHVzZXIAd3Jvbmc=",
        "AUTH PLAIN =", "AUTH LOGIN dXNlcg==", "AUTH CRAM-MD5", "c2VjcmV0", "d3Jvbmc=", "*", "=", "STARTTLS", ".", "..", ". ",
        "Subject: fuzz", "", "body line", ".hidden", "QUIT",
    ];

    private static readonly HashSet<string> EhloLines =
    [
        "250-mx.test", "250 mx.test", "250-PIPELINING", "250-SIZE 4096", "250-STARTTLS", "250-AUTH PLAIN LOGIN", "250-8BITMIME",
        "250-SMTPUTF8", "250-CHUNKING", "250-DSN", "250 ENHANCEDSTATUSCODES",
    ];

    [Fact]
    public async Task A_hundred_thousand_random_sessions_get_well_formed_replies_and_end_cleanly()
    {
        var logger = new TestLogger();
        var failures = new ConcurrentQueue<string>();
        var replies = 0L;
        var accepted = 0L;
        await Parallel.ForEachAsync(Enumerable.Range(0, Cases), new ParallelOptions { MaxDegreeOfParallelism = Math.Max(2, Environment.ProcessorCount) }, async (n, _) =>
        {
            var random = new Random(Seed + n);
            var (lines, messages, problem) = await RunCaseAsync(random, logger);
            Interlocked.Add(ref replies, lines);
            Interlocked.Add(ref accepted, messages);
            if (problem is not null && failures.Count < 20)
            {
                failures.Enqueue($"case {n}: {problem}");
            }
        });

        Assert.Empty(failures);
        Assert.Empty(logger.Errors);
        // The generator must reach deep states, not just bounce off the greeting.
        Assert.True(replies > Cases * 3, $"only {replies} replies");
        Assert.True(accepted > Cases / 50, $"only {accepted} messages reached the handler");
    }

    private static async Task<(int Lines, int Messages, string? Problem)> RunCaseAsync(Random random, TestLogger logger)
    {
        var variant = random.Next(8);
        var options = new SmtpServerOptions
        {
            ServerName = "mx.test",
            AuthEnabled = variant != 3,
            AuthRequiresTls = variant != 2,
            RequireAuthentication = variant == 1,
            TrustedNetworks = variant == 1 ? [] : [IPNetwork.Parse("127.0.0.0/8")],
            MaxRecipients = 1 + random.Next(5),
            MaxMessageSize = 4096,
            MaxErrors = 3 + random.Next(50),
            MaxAuthFailures = 1 + random.Next(4),
            AuthFailureDelay = TimeSpan.Zero,
            ProxyProtocol = variant == 4,
            ProxyProtocolFrom = [IPNetwork.Parse("127.0.0.0/8")],
            Smtputf8 = variant != 3,
            Chunking = variant != 3,
            Dsn = variant != 3,
            CommandTimeout = TimeSpan.FromSeconds(30),
            DataTimeout = TimeSpan.FromSeconds(30),
        };
        var handler = new FuzzHandler(random.Next());
        var input = MakeInput(random, options.ProxyProtocol);

        var connection = new InMemoryConnection();
        connection.ToServer.Write(input);
        await connection.ToServer.CompleteAsync();
        var session = new SmtpSession(connection.ServerStream(), Remote, Local, options, handler, logger, limiter: null, CancellationToken.None, CancellationToken.None);
        try
        {
            // A hang is a failure too; the bound only turns it into a readable one.
            await session.RunAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            await session.DisposeAsync();
        }

        var output = await ReadAllAsync(connection.FromServer);
        var lines = 0;
        var problem = handler.Inconsistent ? "the envelope's recipient lists disagree" : Check(output, out lines);
        return (lines, handler.Messages, problem is null ? null : $"{problem}\ninput: {Encoding.Latin1.GetString(input)}");
    }

    private static async Task<byte[]> ReadAllAsync(PipeReader reader)
    {
        // Bounded: the session completed the writer when it was disposed.
        while (true)
        {
            var result = await reader.ReadAsync();
            if (result.IsCompleted)
            {
                var bytes = result.Buffer.ToArray();
                reader.AdvanceTo(result.Buffer.End);
                await reader.CompleteAsync();
                return bytes;
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private static string? Check(byte[] output, out int count)
    {
        count = 0;
        if (output.Length == 0)
        {
            return null; // Only a PROXY listener may close without a word.
        }

        var text = Encoding.Latin1.GetString(output);
        if (!text.EndsWith("\r\n", StringComparison.Ordinal))
        {
            return "output does not end with CR LF: " + text;
        }

        var lines = text[..^2].Split("\r\n");
        count = lines.Length;
        if (lines[0] != "220 mx.test ESMTP")
        {
            return "bad greeting: " + lines[0];
        }

        for (var i = 1; i < lines.Length; i++)
        {
            var line = lines[i];
            if (!ReplyLine().IsMatch(line))
            {
                return "malformed: " + line;
            }

            if (i > 1 && lines[i - 1][3] == '-' && lines[i - 1][..3] != line[..3])
            {
                return "multi-line reply changes its code: " + line;
            }

            if (line.StartsWith("221 ", StringComparison.Ordinal) || line.StartsWith("421 ", StringComparison.Ordinal))
            {
                if (i != lines.Length - 1)
                {
                    return "reply after closing: " + lines[i + 1];
                }
            }

            var code = line[..3];
            var exempt = code is "334" or "354" || line == "220 2.0.0 Ready to start TLS" || EhloLines.Contains(line);
            if (!exempt && !(line.Length > 10 && line[4] == line[0] && line[5] == '.' && EnhancedCode().IsMatch(line)))
            {
                return "no enhanced status code: " + line;
            }
        }

        return null;
    }

    private static byte[] MakeInput(Random random, bool proxy)
    {
        var bytes = new List<byte>();
        if (proxy)
        {
            bytes.AddRange(random.Next(4) switch
            {
                0 => Encoding.ASCII.GetBytes("PROXY TCP4 192.0.2.1 127.0.0.1 4000 25\r\n"),
                1 => Mutate(Encoding.ASCII.GetBytes("PROXY TCP6 2001:db8::1 2001:db8::2 4000 25\r\n"), random),
                2 => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C, 192, 0, 2, 1, 127, 0, 0, 1, 0x0F, 0xA0, 0, 25],
                _ => RandomBytes(random, random.Next(0, 40)),
            });
        }

        if (random.Next(4) != 0)
        {
            bytes.AddRange(Mutate(Encoding.UTF8.GetBytes(random.Next(2) == 0 ? "EHLO fuzz.test\r\n" : "EHLO bücher.example\r\n"), random, rarely: true));
        }

        var count = 1 + random.Next(24);
        for (var i = 0; i < count; i++)
        {
            if (random.Next(5) == 0)
            {
                // A whole, mostly well-formed transaction, so the deep states are reached often.
                foreach (var part in Transactions[random.Next(Transactions.Length)])
                {
                    bytes.AddRange(Mutate(Encoding.UTF8.GetBytes(part), random, rarely: true));
                }

                continue;
            }

            var line = Vocabulary[random.Next(Vocabulary.Length)];
            // QUIT ends the session; keep it rare so sessions live long enough to matter.
            if (line == "QUIT" && random.Next(10) != 0)
            {
                line = "NOOP";
            }

            bytes.AddRange(Mutate(Encoding.UTF8.GetBytes(line), random));
            bytes.AddRange(random.Next(16) switch
            {
                0 => "\n"u8.ToArray(),
                1 => "\r"u8.ToArray(),
                2 => [],
                _ => "\r\n"u8.ToArray(),
            });

            if (line.StartsWith("BDAT ", StringComparison.Ordinal) && line.Length < 12)
            {
                // The chunk itself, usually the declared size, sometimes not.
                var size = int.Parse(line.AsSpan(5, line.IndexOf(' ', 5) is var space and > 0 ? space - 5 : line.Length - 5));
                var actual = random.Next(4) == 0 ? random.Next(0, 2 * size + 2) : size;
                bytes.AddRange(RandomText(random, actual));
            }
            else if (line == "DATA" && random.Next(2) == 0)
            {
                bytes.AddRange(RandomText(random, random.Next(0, 300)));
                bytes.AddRange(random.Next(3) == 0 ? Encoding.ASCII.GetBytes(Markers[random.Next(Markers.Length)]) : "\r\n.\r\n"u8.ToArray());
            }
        }

        return [.. bytes];
    }

    private static readonly string[][] Transactions =
    [
        ["MAIL FROM:<a@example.com>\r\n", "RCPT TO:<b@example.com>\r\n", "DATA\r\n", "Subject: x\r\n\r\nbody\r\n..stuffed\r\n.\r\n"],
        ["MAIL FROM:<> BODY=8BITMIME\r\n", "RCPT TO:<b@example.com> NOTIFY=FAILURE\r\n", "RCPT TO:<c@example.com>\r\n", "BDAT 9\r\nSubject: ", "BDAT 6 LAST\r\nx\r\n\r\nb"],
        ["MAIL FROM:<jörg@bücher.example> SMTPUTF8 RET=HDRS ENVID=e+2B1\r\n", "RCPT TO:<δ@παράδειγμα.δοκιμή> ORCPT=rfc822;x@y\r\n", "DATA\r\n", "Subject: ü\r\n\r\n.\r\n"],
        ["MAIL FROM:<a@example.com>\r\n", "RCPT TO:<b@example.com>\r\n", "BDAT 0 LAST\r\n"],
        ["MAIL FROM:<a@example.com>\r\n", "RCPT TO:<b@example.com>\r\n", "BDAT 5\r\nab\r\nc", "RSET\r\n"],
        ["AUTH PLAIN AHVzZXIAc2VjcmV0\r\n", "MAIL FROM:<a@example.com> AUTH=<>\r\n", "RCPT TO:<b@example.com>\r\n", "DATA\r\n", "x\r\n.\r\n"],
        ["AUTH LOGIN\r\n", "dXNlcg==\r\n", "d3Jvbmc=\r\n", "AUTH PLAIN\r\n", "AHVzZXIAc2VjcmV0\r\n"],
    ];

    private static readonly string[] Markers = ["\n.\n", "\r.\r", "\r\n.\n", "\n.\r\n", "\r\n.\r", ".\r\n", "\r\n..\r\n"];

    private static byte[] Mutate(byte[] line, Random random, bool rarely = false)
    {
        switch (random.Next(rarely ? 60 : 12))
        {
            case 0:
                return Enumerable.Repeat((byte)random.Next(32, 127), random.Next(400, 2000)).ToArray();
            case 1:
                return RandomBytes(random, random.Next(1, 40));
            case 2 when line.Length > 0:
            {
                var copy = (byte[])line.Clone();
                copy[random.Next(copy.Length)] = (byte)random.Next(0, 256);
                return copy;
            }

            case 3 when line.Length > 1:
                return line[..random.Next(line.Length)];
            case 4:
                return Encoding.UTF8.GetBytes(random.Next(2) == 0 ? Encoding.UTF8.GetString(line).ToLowerInvariant() : Encoding.UTF8.GetString(line).ToUpperInvariant());
            case 5 when line.Length > 0:
            {
                // Insert a byte that means something to a parser.
                var at = random.Next(line.Length);
                byte[] specials = [(byte)' ', (byte)'<', (byte)'>', (byte)'"', (byte)'\\', (byte)'=', (byte)',', (byte)'+', (byte)':', (byte)'@', 0, 0xFF];
                return [.. line[..at], specials[random.Next(specials.Length)], .. line[at..]];
            }

            default:
                return line;
        }
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] RandomText(Random random, int length)
    {
        byte[] alphabet = [(byte)'a', (byte)'b', (byte)' ', (byte)'.', (byte)'\r', (byte)'\n', (byte)'\r', (byte)'\n', 0xC3, 0xA9, (byte)':'];
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = alphabet[random.Next(alphabet.Length)];
        }

        return bytes;
    }

    /// <summary>Three digits, then space/dash and printable ASCII (or nothing).</summary>
    [GeneratedRegex(@"^[2-5][0-9][0-9]([ -][\x20-\x7E]*)?$")]
    private static partial Regex ReplyLine();

    [GeneratedRegex(@"^[245][0-9][0-9][ -][245]\.[0-9]{1,3}\.[0-9]{1,3} ")]
    private static partial Regex EnhancedCode();

    /// <summary>Answers from its own seeded random: mostly yes, sometimes a refusal or a 421.</summary>
    private sealed class FuzzHandler(int seed) : ISmtpHandler
    {
        private readonly Random _random = new(seed);

        public int Messages { get; private set; }

        public bool Inconsistent { get; private set; }

        public ValueTask<bool> AuthenticateAsync(SmtpSessionInfo session, string user, string password, CancellationToken cancellationToken) =>
            ValueTask.FromResult(user == "user" && password == "secret");

        public ValueTask<SmtpReply> MailFromAsync(SmtpSessionInfo session, string reversePath, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Answer("Sender OK"));

        public ValueTask<SmtpReply> RcptToAsync(SmtpSessionInfo session, string reversePath, string forwardPath, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Answer("Recipient OK"));

        public ValueTask<SmtpReply> MessageAsync(SmtpSessionInfo session, SmtpEnvelope envelope, ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            // Touch every byte: the sequence must be valid for the whole call.
            var sum = 0;
            foreach (var segment in message)
            {
                foreach (var b in segment.Span)
                {
                    sum += b;
                }
            }

            if (envelope.Recipients.Count != envelope.RecipientDetails.Count || envelope.Recipients.Count == 0 || sum < 0)
            {
                Inconsistent = true;
            }

            Messages++;
            return ValueTask.FromResult(Answer("Queued"));
        }

        private SmtpReply Answer(string text) => _random.Next(20) switch
        {
            0 => new SmtpReply(451, "4.3.0", "Try later"),
            1 => new SmtpReply(550, "5.7.1", "No\nreally not"),
            2 when _random.Next(5) == 0 => new SmtpReply(421, "4.3.0", "Going away"),
            _ => SmtpReply.Ok(text),
        };
    }
}
