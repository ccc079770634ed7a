using System.Diagnostics;
using System.Text;
using ManycoreMail.Mime;
using ManycoreMail.TestSupport;
using Xunit.Abstractions;

namespace ManycoreMail.Classification.Tests;

/// <summary>
/// No input makes the mail-reading code throw: every corpus mail and up to 100,000 deterministic mutations of them
/// go through the MX classifier, the header parser, the address parser and the transformer's rewriting path
/// (control fields removed, fields appended, the beacon injected into every HTML part). A parser's documented
/// refusal (<see cref="MessageHeaders.TryParse"/> returning false) is an answer; any exception is a finding.
/// </summary>
public sealed class ClassifierFuzzTests(ITestOutputHelper output)
{
    private const int MaxCases = 100_000;
    private const int Seed = 11;
    // The machine is shared: stop at the case count or at this deadline, whichever comes first, and say which.
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(75);

    private static readonly string[] OddCharsets =
    [
        "UTF-7", "utf-7*en", "unicode-1-1-utf-7", "utf-16", "UTF-32BE", "iso-2022-jp", "x-unknown", "", "*", "utf-8*", "gb18030",
        "shift_jis", "euc-kr", "big5", "koi8-r", "windows-1258", "x-mac-roman", "cp-850", "\"utf-8\"", "utf-8'en'", "ks_c_5601-1987",
    ];

    private static readonly string[] OddPayloads = ["", "+AKM-1", "+ZeVnLIqe-", "+-", "+", "=C3", "=", "====", "w6k", "_=?", "=FF=FE=00A", "AAAA", "+2D3cAQ-"];

    private static readonly string[] HandMadeSeeds =
    [
        """
        From: Mail Delivery System <MAILER-DAEMON@mx.ok.test>
        To: bounce-abc123@rp.test
        Subject: =?UTF-7?Q?Undelivered_Mail_Returned_to_Sender+ACE-?=
        Content-Type: multipart/report; report-type=delivery-status; boundary="b"

        --b
        Content-Type: text/plain; charset=utf-7

        I'm sorry to have to inform you that your message could not be delivered +ACI-gone+ACI-.
        --b
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx.ok.test

        Final-Recipient: rfc822; gone@ok.test
        Action: failed
        Status: 5.1.1
        Diagnostic-Code: smtp; 550 5.1.1 <gone@ok.test>: User unknown
        --b
        Content-Type: message/rfc822

        Message-ID: <abc123@rp.test>
        From: =?x-unknown?B?w6k=?= <sender@rp.test>
        To: gone@ok.test
        --b--
        """,
        """
        From: feedback@fbl.ok.test
        To: fbl@rp.test
        Subject: complaint
        Content-Type: multipart/report; report-type=feedback-report; boundary="f"

        --f
        Content-Type: text/plain

        A complaint.
        --f
        Content-Type: message/feedback-report
        Content-Transfer-Encoding: base64

        RmVlZGJhY2stVHlwZTogYWJ1c2UNCk9yaWdpbmFsLVJjcHQtVG86IDxjb21wbGFpbmVyQG9rLnRlc3Q+DQo=
        --f
        Content-Type: message/rfc822
        Content-Transfer-Encoding: quoted-printable

        X-Uuid: 1234abcd
        To: "x>y"@ok.test, undisclosed-recipients:;, (comment) <@relay:a@b.test>
        --f--
        """,
        """
        From: "Reader =?iso-2022-jp?B?GyRCJUYlOSVIGyhC?=" <reader@ok.test>
        To: someone@rp.test
        Auto-Submitted: auto-replied
        Subject: Out of office
        MIME-Version: 1.0
        Content-Type: multipart/alternative; boundary=alt

        --alt
        Content-Type: text/plain; charset=utf-16

        away
        --alt
        Content-Type: text/html; charset="utf-8"
        Content-Transfer-Encoding: quoted-printable

        <html><body>I am away=3D =E2=82=AC</body></html>
        --alt
        Content-Type: text/html; charset=iso-8859-1
        Content-Transfer-Encoding: base64

        PGh0bWw+PGJvZHk+6TwvYm9keT48L2h0bWw+
        --alt--
        """,
        "From: a@b.test\nTo: c@d.test\nX-Uuid: 42\nContent-Type: text/html\n\n<body>hi</body>\n",
    ];

    [Fact]
    public void A_header_in_utf7_is_decoded_and_the_bounce_classified()
    {
        var verdict = new MailClassifier().Classify(Crlf(HandMadeSeeds[0]));

        Assert.Equal(MailKind.Bounce, verdict.Kind);
        Assert.Equal("abc123", verdict.Uuid);
        Assert.Equal("gone@ok.test", Assert.Single(verdict.Recipients).Address);
    }

    [Fact]
    public void No_mail_or_mutation_of_one_makes_a_parser_throw()
    {
        var seeds = HandMadeSeeds.Select(Crlf).Concat(CorpusMails()).ToList();
        var findings = new List<string>();
        var kinds = new Dictionary<string, int>();
        foreach (var seed in seeds)
        {
            Exercise(seed, "seed", findings);
        }

        var random = new Random(Seed);
        var clock = Stopwatch.StartNew();
        var cases = 0;
        while (cases < MaxCases && clock.Elapsed < Deadline)
        {
            var mutated = seeds[random.Next(seeds.Count)];
            var applied = new List<string>();
            for (var rounds = 1 + random.Next(3); rounds > 0; rounds--)
            {
                var (name, next) = Mutate(mutated, random);
                applied.Add(name);
                mutated = next;
                kinds[name] = kinds.GetValueOrDefault(name) + 1;
            }
            Exercise(mutated, $"case {cases} ({string.Join(", ", applied)})", findings);
            cases++;
        }
        clock.Stop();

        output.WriteLine($"{seeds.Count} seeds ({seeds.Count - HandMadeSeeds.Length} from the corpus), {cases:N0} mutated cases in {clock.Elapsed.TotalSeconds:F1} s "
            + $"({(cases < MaxCases ? "stopped by the deadline" : "all cases")}), seed {Seed}, {findings.Count} findings");
        output.WriteLine("mutations: " + string.Join(", ", kinds.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Key} {k.Value:N0}")));
        Assert.True(findings.Count == 0, string.Join("\n\n", findings.Take(5)));
    }

    private static void Exercise(byte[] message, string label, List<string> findings)
    {
        Run("classifier", () => new MailClassifier().Classify(message, ["bounce-abc123@rp.test"]));
        Run("headers, addresses, rewriter", () => Transform(message));

        void Run(string target, Action action)
        {
            try
            {
                action();
            }
            catch (Exception e)
            {
                findings.Add($"{target} on {label}, {message.Length} bytes: {e}");
            }
        }
    }

    /// <summary>What the transformer does with a submitted message, short of the DKIM signature.</summary>
    private static void Transform(byte[] message)
    {
        if (!MessageHeaders.TryParse(message, out var headers, out _))
        {
            return;
        }
        foreach (var field in headers.Fields)
        {
            _ = AddressParser.ParseList(field.Value);
        }
        var rewriter = new MessageRewriter(message, headers);
        foreach (var name in (ReadOnlySpan<string>)["X-Uuid", "X-Stream-Id", "X-Priority", "Bcc", "Message-ID", "Date"])
        {
            rewriter.Remove(name);
        }
        rewriter.Append("Message-ID", "<abc123@rp.test>").Append("Feedback-ID", "campaign:abc123:type:sender");
        if (HtmlBeacon.Inject(message, headers, "<img src=\"https://t.test/o/abc123\" width=\"1\" height=\"1\" alt=\"\">") is { } body)
        {
            rewriter.ReplaceBody(body);
        }
        if (!rewriter.TryGetHeaderBlock(out _, out _))
        {
            _ = rewriter.ToArray();
        }
    }

    private static (string Name, byte[] Message) Mutate(byte[] message, Random random)
    {
        switch (random.Next(11))
        {
            case 0:
            {
                var copy = (byte[])message.Clone();
                for (var flips = 1 + random.Next(8); flips > 0 && copy.Length > 0; flips--)
                {
                    copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
                }
                return ("byte flips", copy);
            }
            case 1:
                return ("truncation", message[..random.Next(message.Length + 1)]);
            case 2:
                return ("duplicated line", EditLines(message, random, (lines, at) => lines.Insert(at, lines[at])));
            case 3:
                return ("removed line", EditLines(message, random, (lines, at) => lines.RemoveAt(at)));
            case 4:
            {
                var word = $"=?{OddCharsets[random.Next(OddCharsets.Length)]}?{"BQbqx"[random.Next(5)]}?{OddPayloads[random.Next(OddPayloads.Length)]}?=";
                var at = random.Next(message.Length + 1);
                return ("encoded word", [.. message[..at], .. Encoding.ASCII.GetBytes(word), .. message[at..]]);
            }
            case 5:
                return ("odd charset", Replace(message, "charset=", "charset=" + OddCharsets[random.Next(OddCharsets.Length)] + ";x="));
            case 6:
                return ("deep nesting", Nest(message, 2 + random.Next(40), random.Next(2) == 0));
            case 7:
            {
                var at = random.Next(message.Length + 1);
                var line = new byte[1_000 + random.Next(30_000)];
                Array.Fill(line, (byte)"a =<\t"[random.Next(5)]);
                return ("long line", [.. message[..at], .. line, .. message[at..]]);
            }
            case 8:
                return ("NULs", Insert(message, random, 0));
            case 9:
                return ("bare CR or LF", Insert(message, random, random.Next(2) == 0 ? (byte)'\r' : (byte)'\n'));
            default:
                return ("broken boundary", Replace(message, "boundary=", "boundary=" + "\"\"-- ;"[random.Next(5)]));
        }
    }

    private static byte[] EditLines(byte[] message, Random random, Action<List<byte[]>, int> edit)
    {
        var lines = new List<byte[]>();
        var start = 0;
        for (var i = 0; i < message.Length; i++)
        {
            if (message[i] == (byte)'\n')
            {
                lines.Add(message[start..(i + 1)]);
                start = i + 1;
            }
        }
        lines.Add(message[start..]);
        edit(lines, random.Next(lines.Count));
        return [.. lines.SelectMany(line => line)];
    }

    private static byte[] Replace(byte[] message, string what, string with)
    {
        var text = Encoding.Latin1.GetString(message);
        return text.Contains(what, StringComparison.OrdinalIgnoreCase)
            ? Encoding.Latin1.GetBytes(text.Replace(what, with, StringComparison.OrdinalIgnoreCase))
            : message;
    }

    private static byte[] Insert(byte[] message, Random random, byte value)
    {
        var copy = new List<byte>(message);
        for (var count = 1 + random.Next(5); count > 0; count--)
        {
            copy.Insert(random.Next(copy.Count + 1), value);
        }
        return [.. copy];
    }

    /// <summary>The message as the innermost part of <paramref name="levels"/> multiparts, or of as many
    /// message/rfc822 wrappings, past every depth bound the parsers keep.</summary>
    private static byte[] Nest(byte[] message, int levels, bool asEnclosedMessages)
    {
        var head = new StringBuilder();
        var tail = new StringBuilder();
        for (var level = 0; level < levels; level++)
        {
            if (asEnclosedMessages)
            {
                head.Append("From: x@y.test\r\nContent-Type: message/rfc822\r\n\r\n");
            }
            else
            {
                head.Append($"Content-Type: multipart/mixed; boundary=n{level}\r\n\r\n--n{level}\r\n");
                tail.Insert(0, $"\r\n--n{level}--\r\n");
            }
        }
        return [.. Encoding.ASCII.GetBytes(head.ToString()), .. message, .. Encoding.ASCII.GetBytes(tail.ToString())];
    }

    private static byte[] Crlf(string text) =>
        Encoding.UTF8.GetBytes(text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal));

    /// <summary>The bundled corpus's mails, plus the shared corpus's others when ../shared is beside the repository.</summary>
    private static IEnumerable<byte[]> CorpusMails() =>
        TestData.AllCorpusFiles().Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList();
}
