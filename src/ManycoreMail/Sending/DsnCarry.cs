using ManycoreMail.Queue;
using ManycoreMail.Smtp.Client;
using ManycoreMail.Smtp.Server;

namespace ManycoreMail.Sending;

/// <summary>What a submitting client asked of delivery, as it travels with the queued message.</summary>
internal sealed record SubmissionRequests(EnvelopeDsn? Dsn, bool? Smtputf8)
{
    public static SubmissionRequests None { get; } = new(null, null);

    public MessageEnvelope ApplyTo(MessageEnvelope envelope) =>
        Dsn is null && Smtputf8 is null ? envelope : envelope with { Dsn = Dsn, Smtputf8 = Smtputf8 };
}

/// <summary>
/// Carries what a submitting client asked of delivery (RFC 3461 DSN parameters, RFC 6531 SMTPUTF8) from the SMTP
/// envelope into the queued envelope's metadata, and from there to the outbound client. Recipients are matched by
/// address: the submission path takes its recipients from the message header, so a header recipient that was also
/// given on RCPT TO gets that RCPT's NOTIFY and ORCPT, and the others get none (the next hop's defaults).
/// </summary>
internal static class DsnCarry
{
    /// <summary>The envelope's requests as queue metadata.</summary>
    public static SubmissionRequests FromSubmission(SmtpEnvelope envelope)
    {
        var mail = envelope.Mail;
        var recipients = envelope.RecipientDetails
            .Where(r => r.Notify != DsnNotify.Unspecified || r.OriginalRecipient is not null)
            .Select(r => new RecipientDsn(r.Address, r.Notify == DsnNotify.Unspecified ? null : SmtpDeliveryRequest.NotifyText(r.Notify),
                r.OriginalRecipient is null ? null : $"{r.OriginalRecipientType};{r.OriginalRecipient}"))
            .ToArray();
        var ret = mail.Return switch
        {
            DsnReturn.Full => "FULL",
            DsnReturn.Headers => "HDRS",
            _ => null,
        };
        var dsn = ret is null && mail.EnvelopeId is null && recipients.Length == 0 ? null : new EnvelopeDsn(ret, mail.EnvelopeId, recipients);
        return dsn is null && !mail.Utf8 ? SubmissionRequests.None : new SubmissionRequests(dsn, mail.Utf8 ? true : null);
    }

    /// <summary>What the outbound client passes on for a queued message.</summary>
    public static SmtpDeliveryRequest ForDelivery(MessageEnvelope envelope)
    {
        if (envelope.Dsn is null && envelope.Smtputf8 is not true)
        {
            return SmtpDeliveryRequest.None;
        }

        var dsn = envelope.Dsn;
        return new SmtpDeliveryRequest
        {
            Smtputf8 = envelope.Smtputf8 is true,
            EnvelopeId = dsn?.EnvelopeId,
            Return = dsn?.Return switch
            {
                "FULL" => DsnReturn.Full,
                "HDRS" => DsnReturn.Headers,
                _ => DsnReturn.Unspecified,
            },
            Recipients = dsn?.Recipients.Select(ToSmtp).ToArray() ?? [],
        };
    }

    private static SmtpRecipient ToSmtp(RecipientDsn recipient)
    {
        var notify = DsnNotify.Unspecified;
        foreach (var word in (recipient.Notify ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            notify |= word switch
            {
                "NEVER" => DsnNotify.Never,
                "SUCCESS" => DsnNotify.Success,
                "FAILURE" => DsnNotify.Failure,
                "DELAY" => DsnNotify.Delay,
                _ => DsnNotify.Unspecified,
            };
        }

        var semicolon = recipient.OriginalRecipient?.IndexOf(';') ?? -1;
        return semicolon <= 0
            ? new SmtpRecipient(recipient.Address, notify)
            : new SmtpRecipient(recipient.Address, notify, recipient.OriginalRecipient![..semicolon], recipient.OriginalRecipient[(semicolon + 1)..]);
    }
}
