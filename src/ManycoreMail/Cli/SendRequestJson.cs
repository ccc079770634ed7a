using System.Security.Cryptography;
using System.Text.Json;

namespace ManycoreMail.Cli;

/// <summary>What every message of one <c>mailer send</c> shares: the fields of <c>POST /v1/messages</c> other than
/// its recipients. The content is what the files held (--text, --html) or a template name.</summary>
internal sealed record SendMessageFields(string From, string Subject, string? Text, string? Html, string? Template, DateTimeOffset? SendAt);

/// <summary>Writes one batch's <c>POST /v1/messages</c> body, in the format <see cref="Compose.SendRequestParser"/> reads.</summary>
internal static class SendRequestJson
{
    public static byte[] Write(SendMessageFields message, IReadOnlyList<SendRecipientRow> recipients)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("from", message.From);
            json.WriteString("subject", message.Subject);
            WriteIfSet(json, "text", message.Text);
            WriteIfSet(json, "html", message.Html);
            WriteIfSet(json, "template", message.Template);
            if (message.SendAt is { } sendAt)
            {
                // RFC 3339 in UTC, the form the parser documents.
                json.WriteString("send_at", sendAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture));
            }

            json.WriteStartArray("recipients");
            foreach (var recipient in recipients)
            {
                json.WriteStartObject();
                json.WriteString("email", recipient.Email);
                WriteIfSet(json, "name", recipient.Name);
                WriteIfSet(json, "uuid", recipient.Uuid);
                if (recipient.Substitutions.Count > 0)
                {
                    json.WriteStartObject("substitutions");
                    foreach (var (name, value) in recipient.Substitutions)
                    {
                        json.WriteString(name, value);
                    }

                    json.WriteEndObject();
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>The batch's Idempotency-Key: its position and a hash of its body. A re-run over the same file and
    /// message writes the same bodies, so every batch the API already took answers its first answer instead of
    /// sending again; a changed file or message makes new keys rather than a 409.</summary>
    public static string IdempotencyKey(int batchIndex, ReadOnlySpan<byte> body) =>
        $"mailer-send-{batchIndex}-{Convert.ToHexStringLower(SHA256.HashData(body))[..40]}";

    private static void WriteIfSet(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }
}
