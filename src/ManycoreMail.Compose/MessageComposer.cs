using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MimeKit;
using MimeKit.Text;

namespace ManycoreMail.Compose;

/// <summary>A recipient's subject, text and HTML after template rendering (or as given).</summary>
public sealed record RenderedContent(string? Subject, string? Text, string? Html);

/// <summary>One recipient's message as the HTTP raw API takes it, and the uuid in its X-Uuid.</summary>
public sealed record ComposedMessage(string Uuid, byte[] Bytes);

/// <summary>
/// Builds one recipient's RFC 5322 message with MimeKit: text and HTML as multipart/alternative, inline images as
/// multipart/related around the HTML, other attachments in multipart/mixed; every header non-ASCII-safe (RFC 2047),
/// every part 7-bit with lines of at most 998 octets, CRLF throughout, so the bytes pass the raw API's door as is.
/// </summary>
public sealed class MessageComposer
{
    private const string UuidAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    private readonly TimeProvider _time;
    private readonly Func<string> _newBoundary;
    private readonly Func<string> _newUuid;

    /// <param name="newBoundary">Tests pass a fixed sequence so the output is byte-for-byte repeatable.</param>
    public MessageComposer(TimeProvider time, Func<string>? newBoundary = null, Func<string>? newUuid = null)
    {
        _time = time;
        _newBoundary = newBoundary ?? (() => "=_" + RandomNumberGenerator.GetString(UuidAlphabet, 28));
        _newUuid = newUuid ?? NewUuid;
    }

    /// <summary>A fresh message uuid: 32 characters of [a-z0-9] (about 165 random bits).</summary>
    public static string NewUuid() => RandomNumberGenerator.GetString(UuidAlphabet, 32);

    public ComposedMessage Compose(SendRequest request, SendRecipient recipient, RenderedContent content)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(recipient);
        ArgumentNullException.ThrowIfNull(content);
        if (content.Text is null && content.Html is null)
        {
            throw new ArgumentException("A message needs a text or an HTML body", nameof(content));
        }
        var uuid = recipient.Uuid ?? _newUuid();
        var message = new MimeMessage();
        message.From.Add(ToMimeKit(request.From));
        message.To.Add(ToMimeKit(recipient.Address));
        if (request.ReplyTo is not null)
        {
            message.ReplyTo.Add(ToMimeKit(request.ReplyTo));
        }
        message.Subject = content.Subject ?? request.Subject ?? "";
        message.Date = _time.GetUtcNow();
        message.MessageId = uuid + "@" + request.From.Domain;
        message.Headers.Add("X-Uuid", uuid);
        if (request.Campaign is not null)
        {
            message.Headers.Add("X-Stream-Id", request.Campaign);
        }
        if (request.Tenant is not null)
        {
            message.Headers.Add("X-Tenant", request.Tenant);
        }
        if (request.Priority is { } priority)
        {
            message.Headers.Add("X-Priority", priority.ToString(CultureInfo.InvariantCulture));
        }
        foreach (var (name, value) in request.Headers)
        {
            // A request built in code rather than parsed has not met HeaderRules yet; never write a forged header.
            if ((HeaderRules.CheckName(name) ?? HeaderRules.CheckValue(value)) is { } problem)
            {
                throw new ArgumentException($"Header {name}: {problem}", nameof(request));
            }
            message.Headers.Add(name, Encoding.UTF8, value);
        }
        message.Body = Body(request.Attachments, content);
        // Base64 or quoted-printable per part, by content: 7-bit clean output survives any relay unchanged.
        message.Prepare(EncodingConstraint.SevenBit, 998);

        using var stream = new MemoryStream();
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        format.International = false;
        message.WriteTo(format, stream);
        return new ComposedMessage(uuid, stream.ToArray());
    }

    private MimeEntity Body(IReadOnlyList<SendAttachment> attachments, RenderedContent content)
    {
        MimeEntity? html = content.Html is null ? null : TextPart(TextFormat.Html, content.Html);
        var related = html is null ? [] : attachments.Where(a => a.Inline && a.ContentId is not null).ToList();
        if (html is not null && related.Count > 0)
        {
            var multipart = new MultipartRelated { Boundary = _newBoundary() };
            multipart.Add(html);
            foreach (var attachment in related)
            {
                multipart.Add(AttachmentPart(attachment));
            }
            html = multipart;
        }
        MimeEntity body;
        if (content.Text is not null && html is not null)
        {
            body = new MultipartAlternative(TextPart(TextFormat.Plain, content.Text), html) { Boundary = _newBoundary() };
        }
        else
        {
            body = html ?? TextPart(TextFormat.Plain, content.Text!);
        }
        var mixed = attachments.Where(a => !related.Contains(a)).ToList();
        if (mixed.Count == 0)
        {
            return body;
        }
        var outer = new Multipart("mixed") { Boundary = _newBoundary() };
        outer.Add(body);
        foreach (var attachment in mixed)
        {
            outer.Add(AttachmentPart(attachment));
        }
        return outer;
    }

    private static TextPart TextPart(TextFormat format, string text)
    {
        var part = new TextPart(format);
        part.SetText(Encoding.UTF8, text);
        return part;
    }

    private static MimePart AttachmentPart(SendAttachment attachment)
    {
        var part = new MimePart(ContentType.Parse(attachment.ContentType))
        {
            Content = new MimeContent(new MemoryStream(attachment.Content.ToArray(), writable: false)),
            ContentDisposition = new ContentDisposition(attachment.Inline ? ContentDisposition.Inline : ContentDisposition.Attachment),
            FileName = attachment.FileName,
            ContentTransferEncoding = ContentEncoding.Base64,
        };
        if (attachment.ContentId is not null)
        {
            part.ContentId = attachment.ContentId;
        }
        return part;
    }

    private static MimeKit.MailboxAddress ToMimeKit(ManycoreMail.Mime.MailboxAddress mailbox) =>
        new(Encoding.UTF8, mailbox.DisplayName ?? "", mailbox.Address);
}
