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

    /// <summary>An RFC 3464 DSN to our VERP address for message <paramref name="uuid"/>: <paramref name="recipient"/>
    /// failed with 5.1.1; <paramref name="returnedHeaders"/>, when given, are returned as a text/rfc822-headers part.</summary>
    public static string Dsn(string uuid, string recipient, string? returnedHeaders = null) => string.Join("\r\n",
        "From: Mail Delivery System <MAILER-DAEMON@mx.ok.test>",
        $"To: bounce-{uuid}@{TestWorld.ReturnPathDomain}",
        "Subject: Undelivered Mail Returned to Sender",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn\"",
        "",
        "--dsn",
        "Content-Type: text/plain",
        "",
        "Your message could not be delivered.",
        "--dsn",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.ok.test",
        "",
        $"Final-Recipient: rfc822; {recipient}",
        "Action: failed",
        "Status: 5.1.1",
        $"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: User unknown",
        returnedHeaders is null ? "--dsn--" : "--dsn\r\nContent-Type: text/rfc822-headers\r\n\r\n" + returnedHeaders + "\r\n--dsn--",
        "");
}
