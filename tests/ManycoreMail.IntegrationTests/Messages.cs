using System.Text;

namespace ManycoreMail.IntegrationTests;

/// <summary>Test messages with the headers our receivers require.</summary>
public static class Messages
{
    public static string NewUuid() => Guid.NewGuid().ToString("N");

    public static string Simple(string uuid, string to, string? extraHeaders = null, string body = "Hello from the tests.\r\n") =>
        $"From: Sender <news@{TestWorld.SenderDomain}>\r\n" +
        $"To: {to}\r\n" +
        "Subject: Integration test\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        $"X-Uuid: {uuid}\r\n" +
        "X-Stream-Id: stream7\r\n" +
        (extraHeaders ?? "") +
        "\r\n" + body;

    public static byte[] Bytes(string message) => Encoding.UTF8.GetBytes(message);
}
