using System.Globalization;
using System.Text;
using System.Text.Json;
using ManycoreMail.Mime;

namespace ManycoreMail.Compose;

/// <summary>
/// Writes a <see cref="SendRequest"/> back as the JSON <see cref="SendRequestParser"/> reads, so that a request can be
/// held (a scheduled send waits as its request, composed at its time) and read back as the same request.
/// </summary>
public static class SendRequestWriter
{
    public static byte[] Write(SendRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("from", Mailbox(request.From));
            WriteIfPresent(json, "reply_to", request.ReplyTo is null ? null : Mailbox(request.ReplyTo));
            WriteIfPresent(json, "subject", request.Subject);
            WriteIfPresent(json, "text", request.Text);
            WriteIfPresent(json, "html", request.Html);
            WriteIfPresent(json, "template", request.Template);
            json.WriteStartArray("recipients");
            foreach (var recipient in request.Recipients)
            {
                json.WriteStartObject();
                json.WriteString("email", recipient.Address.Address);
                WriteIfPresent(json, "name", recipient.Address.DisplayName);
                WriteIfPresent(json, "uuid", recipient.Uuid);
                WriteSubstitutions(json, recipient.Substitutions);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            WriteSubstitutions(json, request.Substitutions);
            if (request.Headers.Count > 0)
            {
                json.WriteStartObject("headers");
                foreach (var (name, value) in request.Headers)
                {
                    json.WriteString(name, value);
                }
                json.WriteEndObject();
            }
            if (request.Attachments.Count > 0)
            {
                json.WriteStartArray("attachments");
                foreach (var attachment in request.Attachments)
                {
                    json.WriteStartObject();
                    json.WriteString("filename", attachment.FileName);
                    json.WriteString("content_type", attachment.ContentType);
                    json.WriteBase64String("content", attachment.Content.Span);
                    json.WriteBoolean("inline", attachment.Inline);
                    WriteIfPresent(json, "content_id", attachment.ContentId);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
            }
            WriteIfPresent(json, "campaign", request.Campaign);
            WriteIfPresent(json, "tenant", request.Tenant);
            if (request.Priority is { } priority)
            {
                json.WriteNumber("priority", priority);
            }
            if (request.SendAt is { } sendAt)
            {
                // RFC 3339 in UTC with the fraction the parser accepts (up to 7 digits here).
                json.WriteString("send_at", sendAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture));
            }
            if (request.Strict)
            {
                json.WriteBoolean("strict", true);
            }
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>The request narrowed to one of its recipients: what a scheduled send holds for that recipient.</summary>
    public static SendRequest ForRecipient(SendRequest request, SendRecipient recipient)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request with { Recipients = [recipient] };
    }

    private static void WriteIfPresent(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }

    private static void WriteSubstitutions(Utf8JsonWriter json, IReadOnlyDictionary<string, string> substitutions)
    {
        if (substitutions.Count == 0)
        {
            return;
        }
        json.WriteStartObject("substitutions");
        foreach (var (name, value) in substitutions)
        {
            json.WriteString(name, value);
        }
        json.WriteEndObject();
    }

    /// <summary>The mailbox as a quoted display name and angle address, which the address parser reads back as it was
    /// (a quoted string keeps every character but the two it escapes).</summary>
    private static string Mailbox(MailboxAddress mailbox)
    {
        if (mailbox.DisplayName is null)
        {
            return mailbox.Address;
        }
        var text = new StringBuilder(mailbox.DisplayName.Length + mailbox.Address.Length + 6).Append('"');
        foreach (var c in mailbox.DisplayName)
        {
            if (c is '"' or '\\')
            {
                text.Append('\\');
            }
            text.Append(c);
        }
        return text.Append("\" <").Append(mailbox.Address).Append('>').ToString();
    }
}
