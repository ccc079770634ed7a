using System.Text;
using ManycoreMail.Mime;
using Xunit.Abstractions;

namespace ManycoreMail.Classification.Tests;

/// <summary>The MX classifier works on bounded memory: a bounce returning a 30 MB original nested 12 multipart
/// levels deep costs a few times its size, not a copy of the message per MIME level.</summary>
public sealed class ClassifierMemoryTests(ITestOutputHelper output)
{
    private const int MultipartLevels = 12;
    private const int AttachmentBytes = 30 * 1024 * 1024 / 4 * 3;

    [Fact]
    public void A_30_MB_bounce_nested_12_levels_deep_is_classified_within_a_few_times_its_size()
    {
        var message = DeeplyNestedBounce();
        var classifier = new MailClassifier();
        // Warm up once on a small mail so the figure measures the parse, not the classifier's one-time set-up.
        _ = classifier.Classify(Encoding.ASCII.GetBytes("From: a@b.test\r\nSubject: hello\r\n\r\nhi\r\n"));

        var before = GC.GetAllocatedBytesForCurrentThread();
        var verdict = classifier.Classify(message);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        output.WriteLine($"message {message.Length:N0} bytes, {MultipartLevels} multipart levels: classification allocated {allocated:N0} bytes ({(double)allocated / message.Length:F2}x)");
        Assert.Equal(MailKind.Bounce, verdict.Kind);
        Assert.Equal("c0ffee42", verdict.Uuid);
        Assert.Equal("gone@ok.test", Assert.Single(verdict.Recipients).Address);
        Assert.True(message.Length > 30_000_000, $"the message is only {message.Length} bytes");
        Assert.True(allocated < 4L * message.Length, $"allocated {allocated:N0} bytes for a {message.Length:N0}-byte message");
    }

    /// <summary>A DSN (level 1) returning the original (level 2), which nests multipart/mixed parts down to level 12,
    /// where a 30 MB base64 attachment lies.</summary>
    private static byte[] DeeplyNestedBounce()
    {
        var head = new StringBuilder();
        head.Append("""
            From: Mail Delivery System <MAILER-DAEMON@mx.ok.test>
            To: postmaster@rp.test
            Subject: Undelivered Mail Returned to Sender
            Content-Type: multipart/report; report-type=delivery-status; boundary="level1"

            --level1
            Content-Type: text/plain

            I'm sorry to have to inform you that your message could not be delivered to <gone@ok.test>.

            --level1
            Content-Type: message/delivery-status

            Reporting-MTA: dns; mx.ok.test

            Final-Recipient: rfc822; gone@ok.test
            Action: failed
            Status: 5.1.1
            Diagnostic-Code: smtp; 550 5.1.1 <gone@ok.test>: User unknown

            --level1
            Content-Type: message/rfc822

            From: sender@rp.test
            To: gone@ok.test
            Message-ID: <c0ffee42@rp.test>
            Subject: the quarterly figures
            Content-Type: multipart/mixed; boundary="level2"


            """);
        for (var level = 2; level <= MultipartLevels; level++)
        {
            head.Append($"--level{level}\r\nContent-Type: text/plain\r\n\r\nPart of level {level}.\r\n");
            head.Append(level < MultipartLevels
                ? $"--level{level}\r\nContent-Type: multipart/mixed; boundary=\"level{level + 1}\"\r\n\r\n"
                : $"--level{level}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n");
        }
        var tail = new StringBuilder("\r\n");
        for (var level = MultipartLevels; level >= 1; level--)
        {
            tail.Append($"--level{level}--\r\n");
        }

        var attachment = new byte[AttachmentBytes];
        new Random(12).NextBytes(attachment);
        var encoded = TransferEncodings.EncodeBase64Lines(attachment);
        byte[] prefix = Encoding.ASCII.GetBytes(head.ToString().Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal));
        return [.. prefix, .. encoded, .. Encoding.ASCII.GetBytes(tail.ToString())];
    }
}
