using ManycoreMail.Mime;
using ManycoreMail.Queue;

namespace ManycoreMail.Roles.Sender;

/// <summary>
/// The envelope of a message the original system's Transformer pushed onto the outbound list (a shared Redis):
/// it carries no metadata of ours, only headers. The return path is in X-ReturnPathIb, the recipient in
/// X-RecipientIb (mail Postfix pushed back at shutdown) or else the To and Cc headers, as the original poller read
/// them; the uuid is the local part of the Message-ID, as its log parser read it. Those two internal headers are
/// removed before sending (the original leaked X-RecipientIb).
/// </summary>
internal static class LegacyEnvelope
{
    private static readonly string[] InternalHeaders = ["X-ReturnPathIb", "X-RecipientIb"];

    public static bool NeedsReading(MessageEnvelope envelope) => envelope.Recipients.Count == 0;

    /// <summary>The envelope and the bytes to send, or null with a reason when the message names no recipient
    /// or no return path (it must not vanish silently: the caller dead-letters it with an error event).</summary>
    public static (MessageEnvelope Envelope, byte[] Message)? TryRead(ReadOnlyMemory<byte> message, out string? problem)
    {
        problem = null;
        if (!MessageHeaders.TryParse(message, out var headers, out var error))
        {
            problem = "message without our envelope and with a malformed header: " + error;
            return null;
        }
        var returnPath = headers.First("X-ReturnPathIb");
        if (string.IsNullOrWhiteSpace(returnPath))
        {
            problem = "message without our envelope and without X-ReturnPathIb";
            return null;
        }
        var recipients = headers.First("X-RecipientIb") is { } pushedBack
            ? AddressParser.ParseList(pushedBack).Select(m => m.Address).Take(1).ToArray()
            : headers.All("To").Concat(headers.All("Cc"))
                .SelectMany(f => AddressParser.ParseList(f.Value))
                .Select(m => m.Address)
                .Distinct(StringComparer.OrdinalIgnoreCase)
                .ToArray();
        if (recipients.Length == 0)
        {
            problem = "message without our envelope and without recipients in X-RecipientIb, To or Cc";
            return null;
        }
        var rewriter = new MessageRewriter(message, headers);
        foreach (var name in InternalHeaders)
        {
            rewriter.Remove(name);
        }
        var envelope = new MessageEnvelope
        {
            Uuid = UuidFromMessageId(headers.First("Message-ID")),
            ReturnPath = returnPath.Trim().Trim('<', '>'),
            Recipients = recipients,
        };
        return (envelope, rewriter.ToArray());
    }

    private static string? UuidFromMessageId(string? messageId)
    {
        if (messageId is null)
        {
            return null;
        }
        var text = messageId.Trim().TrimStart('<');
        var at = text.IndexOf('@');
        return at > 0 ? text[..at] : null;
    }
}
