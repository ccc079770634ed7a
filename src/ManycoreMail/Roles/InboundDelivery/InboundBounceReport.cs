using System.Globalization;
using ManycoreMail.Mime;
using MimeKit;

namespace ManycoreMail.Roles.InboundDelivery;

/// <summary>
/// The RFC 3464 delivery status notification sent back to the MAIL FROM of an inbound mail the customer's URL never
/// took within <c>max-queue-lifetime</c>: multipart/report with a human-readable part, the message/delivery-status
/// part (one group per recipient, Action failed, Status 4.4.7: the delivery time expired) and the original's header
/// block as text/rfc822-headers (not the body: a bounce must not carry a whole mail back).
/// </summary>
internal static class InboundBounceReport
{
    public static byte[] Build(string hostName, string returnPath, IReadOnlyList<string> recipients, ReadOnlyMemory<byte> original,
        string reason, DateTimeOffset arrived, DateTimeOffset now)
    {
        var report = new MimeMessage();
        report.From.Add(new MimeKit.MailboxAddress("Mail Delivery System", "MAILER-DAEMON@" + hostName));
        report.To.Add(new MimeKit.MailboxAddress("", returnPath));
        report.Subject = "Undelivered Mail Returned to Sender";
        report.Date = now;
        report.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId(hostName);
        report.Headers.Add("Auto-Submitted", "auto-replied");

        var human = new TextPart("plain")
        {
            Text = $"This is the mail system at host {hostName}.\r\n\r\n"
                + $"Your message could not be delivered to {string.Join(", ", recipients)}:\r\n"
                + $"the recipient's system did not take it within the time allowed.\r\n\r\n{reason}\r\n",
        };

        var status = new MessageDeliveryStatus();
        var perMessage = new HeaderList
        {
            { "Reporting-MTA", "dns; " + hostName },
            { "Arrival-Date", DateUtils(arrived) },
        };
        status.StatusGroups.Add(perMessage);
        foreach (var recipient in recipients)
        {
            status.StatusGroups.Add(new HeaderList
            {
                { "Final-Recipient", "rfc822; " + recipient },
                { "Action", "failed" },
                { "Status", "4.4.7" },
                { "Last-Attempt-Date", DateUtils(now) },
            });
        }

        var block = HeaderBlock(original);
        var headers = new MimePart("text", "rfc822-headers")
        {
            Content = new MimeContent(new MemoryStream(block, writable: false)),
            ContentTransferEncoding = block.AsSpan().IndexOfAnyInRange((byte)0x80, (byte)0xff) >= 0 ? ContentEncoding.EightBit : ContentEncoding.SevenBit,
        };

        var multipart = new MultipartReport("delivery-status") { human, status, headers };
        report.Body = multipart;
        using var output = new MemoryStream();
        report.WriteTo(new FormatOptions { NewLineFormat = NewLineFormat.Dos }, output);
        return output.ToArray();
    }

    private static string DateUtils(DateTimeOffset at) =>
        at.UtcDateTime.ToString("ddd, dd MMM yyyy HH:mm:ss '+0000'", CultureInfo.InvariantCulture);

    /// <summary>The original's header block, up to and without the empty line.</summary>
    private static byte[] HeaderBlock(ReadOnlyMemory<byte> original)
    {
        if (MessageHeaders.TryParse(original, out var parsed, out _))
        {
            var end = parsed.BodyOffset;
            var block = original.Span[..end];
            // Drop the blank line that ends the block (CRLF or LF).
            while (block.Length > 0 && (block[^1] == (byte)'\n' || block[^1] == (byte)'\r'))
            {
                block = block[..^1];
            }
            var bytes = new byte[block.Length + 2];
            block.CopyTo(bytes);
            bytes[^2] = (byte)'\r';
            bytes[^1] = (byte)'\n';
            return bytes;
        }
        return [];
    }
}
