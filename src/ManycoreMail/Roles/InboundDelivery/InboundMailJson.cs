using System.Buffers;
using System.Globalization;
using System.Text.Json;
using ManycoreMail.Dkim;
using MimeKit;

namespace ManycoreMail.Roles.InboundDelivery;

/// <summary>What the worker knows of a mail besides its bytes.</summary>
/// <param name="Id">The queue item's id: the same on every POST of the item, as is its <c>webhook-id</c>.</param>
/// <param name="Spf">The RFC 8601 SPF result recorded at the door.</param>
/// <param name="Dkim">One result per DKIM-Signature field, in the message's order.</param>
internal sealed record InboundMailFacts(string Id, string MailFrom, IReadOnlyList<string> RcptTo, string Spf, IReadOnlyList<DkimVerificationResult> Dkim);

/// <summary>
/// The JSON format of an inbound route, parsed with MimeKit: <c>{id, envelope: {mail_from, rcpt_to}, from, to, cc,
/// subject, date, message_id, in_reply_to, headers: [[name, value]...], text, html, attachments: [{filename,
/// content_type, size, content_id, content}], spf, dkim, dkim_signatures, size}</c>. Header values, subject and
/// names are decoded (RFC 2047) and unfolded; text and html are decoded to UTF-8 from their charset and transfer
/// encoding; attachment content is the decoded bytes in base64. <c>from</c> is <c>{name, email}</c> (null without a
/// From), <c>to</c> and <c>cc</c> lists of them; <c>dkim</c> sums the signatures up (pass when one passes, none without
/// any, else the first one's result) and <c>dkim_signatures</c> gives each with its d= and s=.
/// </summary>
internal static class InboundMailJson
{
    public static byte[] Build(ReadOnlyMemory<byte> message, InboundMailFacts facts)
    {
        MimeMessage mail;
        using (var stream = new MemoryStream(message.ToArray(), writable: false))
        {
            mail = MimeMessage.Load(stream);
        }
        var buffer = new ArrayBufferWriter<byte>(message.Length + 1024);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", facts.Id);
            json.WriteStartObject("envelope");
            json.WriteString("mail_from", facts.MailFrom);
            json.WriteStartArray("rcpt_to");
            foreach (var recipient in facts.RcptTo)
            {
                json.WriteStringValue(recipient);
            }
            json.WriteEndArray();
            json.WriteEndObject();
            json.WritePropertyName("from");
            if (mail.From.Mailboxes.FirstOrDefault() is { } author)
            {
                WriteMailbox(json, author);
            }
            else
            {
                json.WriteNullValue();
            }
            WriteMailboxes(json, "to", mail.To);
            WriteMailboxes(json, "cc", mail.Cc);
            json.WriteString("subject", mail.Subject);
            // MimeKit answers MinValue for a Date it cannot read: that is no date, not year 1.
            if (mail.Headers.Contains(HeaderId.Date) && mail.Date != DateTimeOffset.MinValue)
            {
                json.WriteString("date", mail.Date.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            }
            else
            {
                json.WriteNull("date");
            }
            json.WriteString("message_id", mail.MessageId);
            json.WriteString("in_reply_to", mail.InReplyTo);
            json.WriteStartArray("headers");
            foreach (var header in mail.Headers)
            {
                json.WriteStartArray();
                json.WriteStringValue(header.Field);
                json.WriteStringValue(header.Value.Trim());
                json.WriteEndArray();
            }
            json.WriteEndArray();
            json.WriteString("text", mail.TextBody);
            json.WriteString("html", mail.HtmlBody);
            WriteAttachments(json, mail);
            json.WriteString("spf", facts.Spf);
            json.WriteString("dkim", DkimSummary(facts.Dkim));
            json.WriteStartArray("dkim_signatures");
            foreach (var signature in facts.Dkim)
            {
                json.WriteStartObject();
                json.WriteString("result", ResultName(signature.Result));
                json.WriteString("domain", signature.Domain);
                json.WriteString("selector", signature.Selector);
                json.WriteString("reason", signature.Reason);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteNumber("size", message.Length);
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Pass when any signature passes; none without signatures; else the first signature's result.</summary>
    public static string DkimSummary(IReadOnlyList<DkimVerificationResult> results) =>
        results.Count == 0 ? "none"
        : results.Any(r => r.Result == DkimResult.Pass) ? "pass"
        : ResultName(results[0].Result);

    private static string ResultName(DkimResult result) => result switch
    {
        DkimResult.Pass => "pass",
        DkimResult.Fail => "fail",
        DkimResult.Policy => "policy",
        DkimResult.TempError => "temperror",
        _ => "permerror",
    };

    /// <summary>Every part that is not the message's text: attachments, inline images, enclosed messages. A text part
    /// counts as body unless it is marked as an attachment.</summary>
    private static void WriteAttachments(Utf8JsonWriter json, MimeMessage mail)
    {
        json.WriteStartArray("attachments");
        foreach (var entity in mail.BodyParts)
        {
            if (entity is TextPart { IsAttachment: false })
            {
                continue;
            }
            byte[] content;
            using (var decoded = new MemoryStream())
            {
                switch (entity)
                {
                    case MimePart part when part.Content is not null:
                        part.Content.DecodeTo(decoded);
                        break;
                    case MessagePart enclosed when enclosed.Message is not null:
                        enclosed.Message.WriteTo(FormatOptions.Default, decoded);
                        break;
                }
                content = decoded.ToArray();
            }
            json.WriteStartObject();
            json.WriteString("filename", (entity as MimePart)?.FileName ?? entity.ContentDisposition?.FileName ?? entity.ContentType.Name);
            json.WriteString("content_type", entity.ContentType.MimeType);
            json.WriteNumber("size", content.Length);
            json.WriteString("content_id", entity.ContentId);
            json.WriteBase64String("content", content);
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    private static void WriteMailboxes(Utf8JsonWriter json, string name, InternetAddressList addresses)
    {
        json.WriteStartArray(name);
        foreach (var mailbox in addresses.Mailboxes)
        {
            WriteMailbox(json, mailbox);
        }
        json.WriteEndArray();
    }

    private static void WriteMailbox(Utf8JsonWriter json, MailboxAddress mailbox)
    {
        json.WriteStartObject();
        json.WriteString("name", string.IsNullOrEmpty(mailbox.Name) ? null : mailbox.Name);
        json.WriteString("email", mailbox.Address);
        json.WriteEndObject();
    }
}
