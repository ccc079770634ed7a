using System.Text.RegularExpressions;
using MimeKit;

namespace ManycoreMail.ReportAuthentication;

/// <summary>
/// What a bounce returns of the message it reports (RFC 3464 §2: the third part of a multipart/report, message/rfc822
/// or text/rfc822-headers): the uuid it carried (our X-Uuid header, else the local part of our Message-ID
/// &lt;uuid@return-path-domain&gt;) and whom it was addressed to. A bounce that quotes the original only as text gives
/// its X-Uuid line alone.
/// </summary>
/// <param name="Uuid">Null when the returned headers name none of ours.</param>
/// <param name="Recipients">The To, Cc and Bcc addresses, lower case; empty when those fields were not returned.</param>
internal sealed partial record ReturnedHeaders(string? Uuid, IReadOnlySet<string> Recipients)
{
    /// <summary>The returned headers, or null when the bounce holds none (then only SPF and DKIM speak for it).</summary>
    public static ReturnedHeaders? Find(ReadOnlyMemory<byte> bounce)
    {
        MimeMessage message;
        try
        {
            using var stream = new MemoryStream(bounce.ToArray(), writable: false);
            message = MimeMessage.Load(stream);
        }
        catch (FormatException)
        {
            return null;
        }
        string? quotedUuid = null;
        foreach (var part in message.BodyParts)
        {
            switch (part)
            {
                case MessagePart { Message: { } returned }:
                    return From(returned.Headers);
                case MimePart headersPart when headersPart.ContentType.MediaSubtype.Equals("rfc822-headers", StringComparison.OrdinalIgnoreCase)
                                               || headersPart.ContentType.MediaSubtype.Equals("global-headers", StringComparison.OrdinalIgnoreCase):
                    return FromHeaderBlock(headersPart);
                case TextPart text when quotedUuid is null:
                    quotedUuid = QuotedUuid().Match(text.Text ?? "") is { Success: true } match ? match.Groups[1].Value : null;
                    break;
            }
        }
        return quotedUuid is null ? null : new ReturnedHeaders(quotedUuid, new HashSet<string>());
    }

    /// <summary>True when the returned headers are those of message <paramref name="uuid"/> (when the VERP address
    /// names one), and (when they name its recipients) were addressed to <paramref name="recipient"/>.</summary>
    public bool Agrees(string? uuid, string? recipient) =>
        (uuid is null || string.Equals(Uuid, uuid, StringComparison.OrdinalIgnoreCase))
        && (Recipients.Count == 0 || recipient is not null && Recipients.Contains(recipient.Trim().ToLowerInvariant()));

    private static ReturnedHeaders FromHeaderBlock(MimePart part)
    {
        using var content = new MemoryStream();
        part.Content?.DecodeTo(content);
        content.Position = 0;
        try
        {
            return From(HeaderList.Load(content));
        }
        catch (FormatException)
        {
            return new ReturnedHeaders(null, new HashSet<string>());
        }
    }

    private static ReturnedHeaders From(HeaderList headers)
    {
        var uuid = headers["X-Uuid"]?.Trim() is { Length: > 0 } header && IsUuid(header) ? header : MessageIdUuid(headers["Message-ID"]);
        var recipients = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in new[] { HeaderId.To, HeaderId.Cc, HeaderId.Bcc })
        {
            foreach (var field in headers.Where(h => h.Id == name))
            {
                if (InternetAddressList.TryParse(field.Value, out var list))
                {
                    foreach (var mailbox in list.Mailboxes)
                    {
                        recipients.Add(mailbox.Address.ToLowerInvariant());
                    }
                }
            }
        }
        return new ReturnedHeaders(uuid, recipients);
    }

    private static string? MessageIdUuid(string? messageId)
    {
        var id = messageId?.Trim().TrimStart('<').TrimEnd('>');
        var at = id?.IndexOf('@') ?? -1;
        return at > 0 && IsUuid(id![..at]) ? id[..at] : null;
    }

    /// <summary>Our uuids: letters and digits, as the VERP address carries them (lower case; compared ignoring case).</summary>
    private static bool IsUuid(string value) => value.Length > 0 && value.All(char.IsAsciiLetterOrDigit);

    [GeneratedRegex(@"^\s*X-Uuid:\s*([a-z0-9]+)\s*$", RegexOptions.Multiline | RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex QuotedUuid();
}
