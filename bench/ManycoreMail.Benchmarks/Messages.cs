using System.Text;

namespace ManycoreMail.Benchmarks;

/// <summary>Synthetic messages of a given size with a realistic header block.</summary>
internal static class Messages
{
    public static byte[] Create(int bodySize)
    {
        var text = new StringBuilder();
        text.Append("Received: from client.example (client.example [192.0.2.1])\r\n\tby mx.example with ESMTPS id abc123\r\n\tfor <r@example.net>; Thu, 26 Nov 2026 04:00:00 +0000\r\n");
        text.Append("From: \"Newsletter\" <news@sender.test>\r\nTo: Reader <r@example.net>, other@example.net\r\nCc: cc@example.net\r\n");
        text.Append("Subject: =?utf-8?q?Benchmark_subject_with_some_length?=\r\nDate: Thu, 26 Nov 2026 04:00:00 +0000\r\n");
        text.Append("Message-ID: <0123456789abcdef@sender.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n");
        text.Append("Content-Transfer-Encoding: 7bit\r\nX-Uuid: 0123456789abcdef\r\nX-Stream-Id: campaign7\r\n\r\n");
        var random = new Random(42);
        while (text.Length < bodySize)
        {
            for (var i = 0; i < 72; i++)
            {
                text.Append((char)('a' + random.Next(26)));
                if (random.Next(8) == 0)
                {
                    text.Append(' ');
                }
            }
            text.Append("\r\n");
        }
        return Encoding.ASCII.GetBytes(text.ToString());
    }
}
