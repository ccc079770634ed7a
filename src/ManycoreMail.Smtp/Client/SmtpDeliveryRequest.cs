using System.Text;
using ManycoreMail.Smtp.Server;

namespace ManycoreMail.Smtp.Client;

/// <summary>What the submitting client asked of delivery, for the outbound client to pass on to the next hop:
/// the RFC 3461 parameters (sent only to a server that offers DSN) and whether SMTPUTF8 was declared (RFC 6531).</summary>
public sealed record SmtpDeliveryRequest
{
    public static SmtpDeliveryRequest None { get; } = new();

    /// <summary>RET= for MAIL FROM.</summary>
    public DsnReturn Return { get; init; }

    /// <summary>ENVID= for MAIL FROM, decoded (the client encodes it as xtext).</summary>
    public string? EnvelopeId { get; init; }

    /// <summary>The submitting client declared SMTPUTF8: offered to a server that has it, and required of one
    /// when the message actually holds UTF-8 in its header (see <see cref="SmtpClientConnection.SendAsync(string, IReadOnlyList{string}, ReadOnlyMemory{byte}, SmtpDeliveryRequest, CancellationToken)"/>).</summary>
    public bool Smtputf8 { get; init; }

    /// <summary>NOTIFY= and ORCPT= per recipient, matched to the transaction's recipients by address (case-insensitive).</summary>
    public IReadOnlyList<SmtpRecipient> Recipients { get; init; } = [];

    internal bool HasDsn => Return != DsnReturn.Unspecified || EnvelopeId is not null || Recipients.Count > 0;

    internal SmtpRecipient? RecipientOf(string address)
    {
        foreach (var recipient in Recipients)
        {
            if (string.Equals(recipient.Address, address, StringComparison.OrdinalIgnoreCase))
            {
                return recipient;
            }
        }

        return null;
    }

    /// <summary>RFC 6531 §3.2: a message needs SMTPUTF8 when its envelope or header holds UTF-8. Our addresses are
    /// ASCII (both receivers refuse others), so it is the header block that decides; a body in UTF-8 needs only 8BITMIME.</summary>
    internal static bool HeaderNeedsUtf8(ReadOnlySpan<byte> message)
    {
        var end = message.IndexOf("\r\n\r\n"u8);
        var header = end < 0 ? message : message[..end];
        return header.ContainsAnyExceptInRange((byte)0, (byte)0x7F);
    }

    /// <summary>The NOTIFY= value in its wire form (RFC 3461 §4.1).</summary>
    public static string NotifyText(DsnNotify notify)
    {
        if (notify.HasFlag(DsnNotify.Never))
        {
            return "NEVER";
        }

        var text = new StringBuilder();
        foreach (var (flag, word) in (ReadOnlySpan<(DsnNotify, string)>)[(DsnNotify.Success, "SUCCESS"), (DsnNotify.Failure, "FAILURE"), (DsnNotify.Delay, "DELAY")])
        {
            if (notify.HasFlag(flag))
            {
                text.Append(text.Length == 0 ? "" : ",").Append(word);
            }
        }

        return text.ToString();
    }
}
