using System.Text.Json;

namespace ManycoreMail.Classification;

/// <summary>The one-line JSON form of a verdict that <c>mailer classify</c> prints.</summary>
public static class ClassificationJson
{
    public static string KindName(MailKind kind) => kind switch
    {
        MailKind.Bounce => "bounce",
        MailKind.Feedback => "feedback",
        MailKind.AutoReply => "autoreply",
        MailKind.Unsubscribe => "unsubscribe",
        _ => "other",
    };

    /// <summary>The bounce type, "autoreply", or "-" when the kind has none.</summary>
    public static string TypeOf(MailClassification verdict) => verdict.Kind switch
    {
        MailKind.Bounce when verdict.Recipients.Count > 0 => verdict.Recipients[0].Type,
        MailKind.AutoReply => BounceTypes.AutoReply,
        _ => "-",
    };

    /// <summary>The sisimai reason of the first failed recipient; "feedback" and "vacation" as sisimai names those kinds.</summary>
    public static string ClassOf(MailClassification verdict) => verdict.Kind switch
    {
        MailKind.Bounce when verdict.Recipients.Count > 0 => verdict.Recipients[0].Class,
        MailKind.Feedback => BounceReasons.Feedback,
        MailKind.AutoReply => BounceReasons.Vacation,
        _ => "-",
    };

    /// <summary>{"file","error"}: the line for a file that could not be read or classified.</summary>
    public static string FormatError(string file, string error)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("file", file);
            json.WriteString("error", error);
            json.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>{"file","kind","type","class","status","recipient","uuid","recipients":[...]}.</summary>
    public static string Format(string file, MailClassification verdict)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            var first = verdict.Recipients.Count > 0 ? verdict.Recipients[0] : null;
            json.WriteStartObject();
            json.WriteString("file", file);
            json.WriteString("kind", KindName(verdict.Kind));
            json.WriteString("type", TypeOf(verdict));
            json.WriteString("class", ClassOf(verdict));
            json.WriteString("status", first?.Status);
            json.WriteString("recipient", first?.Address ?? verdict.Email);
            json.WriteString("uuid", verdict.Uuid);
            json.WriteStartArray("recipients");
            foreach (var recipient in verdict.Recipients)
            {
                json.WriteStringValue(recipient.Address);
            }
            if (verdict.Recipients.Count == 0 && verdict.Email is not null)
            {
                json.WriteStringValue(verdict.Email);
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
