using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using ManycoreMail.Mime;

namespace ManycoreMail.Compose;

/// <summary>
/// Reads a <c>POST /v1/messages</c> JSON body strictly: every field is checked and every problem is reported with
/// its path, rather than stopping at the first, so a caller fixes a request in one round trip.
/// </summary>
public sealed partial class SendRequestParser(SendRequestLimits limits)
{
    private static readonly string[] KnownFields =
    [
        "from", "reply_to", "subject", "text", "html", "template", "recipients", "substitutions", "headers",
        "attachments", "campaign", "tenant", "priority", "send_at", "strict",
    ];
    private static readonly string[] RecipientFields = ["email", "name", "uuid", "substitutions"];
    private static readonly string[] AttachmentFields = ["filename", "content_type", "content", "inline", "content_id"];

    public SendRequestParser() : this(new SendRequestLimits())
    {
    }

    public SendRequestParseResult Parse(ReadOnlySpan<byte> utf8Json)
    {
        var errors = new List<SendRequestError>();
        if (utf8Json.Length > limits.MaxRequestBytes)
        {
            errors.Add(new("", $"request is larger than {limits.MaxRequestBytes} bytes"));
            return new(null, errors);
        }
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { MaxDepth = 16 });
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException e)
        {
            errors.Add(new("", "malformed JSON: " + e.Message));
            return new(null, errors);
        }
        using (document)
        {
            var request = Read(document.RootElement, errors);
            return new(errors.Count == 0 ? request : null, errors);
        }
    }

    private SendRequest? Read(JsonElement root, List<SendRequestError> errors)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new("", "expected a JSON object"));
            return null;
        }
        RefuseUnknownAndDuplicates(root, "", KnownFields, errors);
        var from = Mailbox(root, "from", required: true, errors);
        var replyTo = Mailbox(root, "reply_to", required: false, errors);
        var subject = OptionalString(root, "subject", errors);
        if (subject is not null && HeaderRules.CheckValue(subject) is { } subjectProblem)
        {
            errors.Add(new("subject", subjectProblem));
        }
        var text = OptionalString(root, "text", errors);
        var html = OptionalString(root, "html", errors);
        var template = OptionalString(root, "template", errors);
        if (text is null && html is null && template is null)
        {
            errors.Add(new("text", "one of text, html or template is required"));
        }
        if (template is not null && template.Length == 0)
        {
            errors.Add(new("template", "must not be empty"));
        }
        var recipients = Recipients(root, errors);
        var substitutions = Substitutions(root, "substitutions", "substitutions", errors);
        var headers = Headers(root, errors);
        var attachments = Attachments(root, errors);
        var campaign = Name(root, "campaign", errors);
        var tenant = Name(root, "tenant", errors);
        var priority = Priority(root, errors);
        var sendAt = SendAt(root, errors);
        var strict = OptionalBool(root, "strict", "strict", errors) ?? false;

        long contentBytes = Utf8Length(text) + Utf8Length(html);
        foreach (var attachment in attachments)
        {
            contentBytes += attachment.Content.Length;
        }
        if (contentBytes > limits.MaxContentBytes)
        {
            errors.Add(new("attachments", $"text, html and attachments together exceed {limits.MaxContentBytes} bytes"));
        }
        if (from is null)
        {
            return null;
        }
        return new SendRequest
        {
            From = from, ReplyTo = replyTo, Subject = subject, Text = text, Html = html, Template = template,
            Recipients = recipients, Substitutions = substitutions, Headers = headers, Attachments = attachments,
            Campaign = campaign, Tenant = tenant, Priority = priority, SendAt = sendAt, Strict = strict,
        };
    }

    private static long Utf8Length(string? text) => text is null ? 0 : System.Text.Encoding.UTF8.GetByteCount(text);

    private static void RefuseUnknownAndDuplicates(JsonElement obj, string path, string[] known, List<SendRequestError> errors)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in obj.EnumerateObject())
        {
            var field = Join(path, property.Name);
            if (!known.Contains(property.Name))
            {
                errors.Add(new(field, "unknown field"));
            }
            else if (!seen.Add(property.Name))
            {
                // JsonElement.GetProperty would silently take one of them.
                errors.Add(new(field, "given more than once"));
            }
        }
    }

    private static string Join(string path, string name) => path.Length == 0 ? name : path + "." + name;

    private static bool TryGet(JsonElement obj, string name, out JsonElement value) =>
        obj.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;

    private static string? OptionalString(JsonElement obj, string name, List<SendRequestError> errors, string? path = null)
    {
        if (!TryGet(obj, name, out var value))
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.String)
        {
            errors.Add(new(path ?? name, "expected a string"));
            return null;
        }
        return value.GetString();
    }

    private static bool? OptionalBool(JsonElement obj, string name, string path, List<SendRequestError> errors)
    {
        if (!TryGet(obj, name, out var value))
        {
            return null;
        }
        if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            errors.Add(new(path, "expected true or false"));
            return null;
        }
        return value.GetBoolean();
    }

    private static MailboxAddress? Mailbox(JsonElement obj, string name, bool required, List<SendRequestError> errors)
    {
        var text = OptionalString(obj, name, errors);
        if (text is null)
        {
            if (required && !TryGet(obj, name, out _))
            {
                errors.Add(new(name, "is required"));
            }
            return null;
        }
        return ParseMailbox(text, name, allowDisplayName: true, errors);
    }

    private static MailboxAddress? ParseMailbox(string text, string path, bool allowDisplayName, List<SendRequestError> errors)
    {
        if (HeaderRules.CheckValue(text) is { } problem)
        {
            errors.Add(new(path, problem));
            return null;
        }
        var mailboxes = AddressParser.ParseList(text);
        if (mailboxes.Count != 1)
        {
            errors.Add(new(path, mailboxes.Count == 0 ? "not an email address" : "expected exactly one address"));
            return null;
        }
        var mailbox = mailboxes[0];
        if (!IsDeliverable(mailbox.Address))
        {
            errors.Add(new(path, "not an email address"));
            return null;
        }
        if (!allowDisplayName && mailbox.DisplayName is not null)
        {
            errors.Add(new(path, "expected a bare address; give the display name as 'name'"));
            return null;
        }
        return mailbox;
    }

    // The HTTP raw API refuses what SMTP cannot carry; refusing it here names the field instead.
    private static bool IsDeliverable(string address)
    {
        var at = address.LastIndexOf('@');
        if (at <= 0 || at == address.Length - 1)
        {
            return false;
        }
        foreach (var c in address)
        {
            if (c is <= ' ' or > '~')
            {
                return false;
            }
        }
        return true;
    }

    private List<SendRecipient> Recipients(JsonElement root, List<SendRequestError> errors)
    {
        var result = new List<SendRecipient>();
        if (!TryGet(root, "recipients", out var array) || array.ValueKind != JsonValueKind.Array || array.GetArrayLength() == 0)
        {
            errors.Add(new("recipients", "a non-empty array of recipients is required"));
            return result;
        }
        if (array.GetArrayLength() > limits.MaxRecipients)
        {
            errors.Add(new("recipients", $"at most {limits.MaxRecipients} recipients per request"));
            return result;
        }
        var addresses = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var uuids = new HashSet<string>(StringComparer.Ordinal);
        var index = 0;
        foreach (var item in array.EnumerateArray())
        {
            var path = $"recipients[{index++}]";
            if (item.ValueKind != JsonValueKind.Object)
            {
                errors.Add(new(path, "expected an object"));
                continue;
            }
            RefuseUnknownAndDuplicates(item, path, RecipientFields, errors);
            var email = OptionalString(item, "email", errors, path + ".email");
            MailboxAddress? mailbox = null;
            if (email is null)
            {
                errors.Add(new(path + ".email", "is required"));
            }
            else
            {
                mailbox = ParseMailbox(email, path + ".email", allowDisplayName: false, errors);
            }
            var name = OptionalString(item, "name", errors, path + ".name");
            if (name is not null && HeaderRules.CheckValue(name) is { } nameProblem)
            {
                errors.Add(new(path + ".name", nameProblem));
                name = null;
            }
            var uuid = OptionalString(item, "uuid", errors, path + ".uuid");
            if (uuid is not null)
            {
                if (!UuidPattern().IsMatch(uuid))
                {
                    errors.Add(new(path + ".uuid", "must match [a-z0-9]{1,255}"));
                }
                else if (!uuids.Add(uuid))
                {
                    errors.Add(new(path + ".uuid", "duplicate uuid"));
                }
            }
            var substitutions = Substitutions(item, "substitutions", path + ".substitutions", errors);
            if (mailbox is not null)
            {
                if (!addresses.Add(mailbox.Address))
                {
                    errors.Add(new(path + ".email", "duplicate recipient"));
                }
                result.Add(new SendRecipient(mailbox with { DisplayName = name }, uuid, substitutions));
            }
        }
        return result;
    }

    private static Dictionary<string, string> Substitutions(JsonElement obj, string name, string path, List<SendRequestError> errors)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!TryGet(obj, name, out var value))
        {
            return result;
        }
        if (value.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new(path, "expected an object of names to values"));
            return result;
        }
        foreach (var property in value.EnumerateObject())
        {
            var field = path + "." + property.Name;
            if (property.Name.Length == 0)
            {
                errors.Add(new(field, "empty name"));
                continue;
            }
            // Numbers and booleans are written as JSON writes them, so {"count": 3} renders "3".
            string? text = property.Value.ValueKind switch
            {
                JsonValueKind.String => property.Value.GetString(),
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => property.Value.GetRawText(),
                _ => null,
            };
            if (text is null)
            {
                errors.Add(new(field, "expected a string, number or boolean"));
            }
            else if (!result.TryAdd(property.Name, text))
            {
                errors.Add(new(field, "given more than once"));
            }
        }
        return result;
    }

    private static List<KeyValuePair<string, string>> Headers(JsonElement root, List<SendRequestError> errors)
    {
        var result = new List<KeyValuePair<string, string>>();
        if (!TryGet(root, "headers", out var value))
        {
            return result;
        }
        if (value.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new("headers", "expected an object of header names to values"));
            return result;
        }
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var property in value.EnumerateObject())
        {
            var field = "headers." + property.Name;
            if (HeaderRules.CheckName(property.Name) is { } nameProblem)
            {
                errors.Add(new(field, nameProblem));
                continue;
            }
            if (!seen.Add(property.Name))
            {
                errors.Add(new(field, "given more than once"));
                continue;
            }
            if (property.Value.ValueKind != JsonValueKind.String)
            {
                errors.Add(new(field, "expected a string"));
                continue;
            }
            var text = property.Value.GetString()!;
            if (HeaderRules.CheckValue(text) is { } valueProblem)
            {
                errors.Add(new(field, valueProblem));
                continue;
            }
            result.Add(new(property.Name, text));
        }
        return result;
    }

    private static List<SendAttachment> Attachments(JsonElement root, List<SendRequestError> errors)
    {
        var result = new List<SendAttachment>();
        if (!TryGet(root, "attachments", out var array))
        {
            return result;
        }
        if (array.ValueKind != JsonValueKind.Array)
        {
            errors.Add(new("attachments", "expected an array"));
            return result;
        }
        var contentIds = new HashSet<string>(StringComparer.Ordinal);
        var index = 0;
        foreach (var item in array.EnumerateArray())
        {
            var path = $"attachments[{index++}]";
            if (item.ValueKind != JsonValueKind.Object)
            {
                errors.Add(new(path, "expected an object"));
                continue;
            }
            RefuseUnknownAndDuplicates(item, path, AttachmentFields, errors);
            var before = errors.Count;
            var fileName = OptionalString(item, "filename", errors, path + ".filename");
            if (fileName is null || fileName.Length == 0)
            {
                errors.Add(new(path + ".filename", "is required"));
            }
            else if (HeaderRules.CheckValue(fileName) is { } problem)
            {
                errors.Add(new(path + ".filename", problem));
            }
            var contentType = OptionalString(item, "content_type", errors, path + ".content_type") ?? "application/octet-stream";
            if (!MimeKit.ContentType.TryParse(contentType, out var parsedType) || parsedType.IsMimeType("multipart", "*")
                || HeaderRules.CheckValue(contentType) is not null)
            {
                errors.Add(new(path + ".content_type", "not a MIME type for a single part"));
            }
            var content = Base64(item, path + ".content", errors);
            var inline = OptionalBool(item, "inline", path + ".inline", errors) ?? false;
            var contentId = OptionalString(item, "content_id", errors, path + ".content_id");
            if (contentId is not null)
            {
                if (!ContentIdPattern().IsMatch(contentId))
                {
                    errors.Add(new(path + ".content_id", "must be id-left@id-right without angle brackets"));
                }
                else if (!contentIds.Add(contentId))
                {
                    errors.Add(new(path + ".content_id", "duplicate content_id"));
                }
            }
            else if (inline)
            {
                errors.Add(new(path + ".content_id", "an inline attachment needs a content_id for the HTML to refer to"));
            }
            if (errors.Count == before)
            {
                result.Add(new SendAttachment(fileName!, contentType, content!, inline, contentId));
            }
        }
        return result;
    }

    private static byte[]? Base64(JsonElement item, string path, List<SendRequestError> errors)
    {
        if (!item.TryGetProperty("content", out var value) || value.ValueKind != JsonValueKind.String)
        {
            errors.Add(new(path, "base64 content is required"));
            return null;
        }
        // TryGetBytesFromBase64 is strict RFC 4648: no whitespace, correct padding.
        if (!value.TryGetBytesFromBase64(out var bytes))
        {
            errors.Add(new(path, "not valid base64"));
            return null;
        }
        return bytes;
    }

    private static string? Name(JsonElement root, string name, List<SendRequestError> errors)
    {
        var text = OptionalString(root, name, errors);
        if (text is not null && !NamePattern().IsMatch(text))
        {
            errors.Add(new(name, "must be 1 to 64 characters of [A-Za-z0-9._-]"));
            return null;
        }
        return text;
    }

    private static int? Priority(JsonElement root, List<SendRequestError> errors)
    {
        if (!TryGet(root, "priority", out var value))
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var priority) || priority is not (0 or 1))
        {
            errors.Add(new("priority", "must be 0 or 1"));
            return null;
        }
        return priority;
    }

    private static DateTimeOffset? SendAt(JsonElement root, List<SendRequestError> errors)
    {
        var text = OptionalString(root, "send_at", errors);
        if (text is null)
        {
            return null;
        }
        if (!Rfc3339Pattern().IsMatch(text)
            || !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when))
        {
            errors.Add(new("send_at", "must be an RFC 3339 date-time such as 2026-12-24T09:00:00Z"));
            return null;
        }
        return when;
    }

    [GeneratedRegex("^[a-z0-9]{1,255}$")]
    private static partial Regex UuidPattern();

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,128}@[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,128}$")]
    private static partial Regex ContentIdPattern();

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")]
    private static partial Regex Rfc3339Pattern();
}
