using System.Buffers;
using ManycoreMail.Ingress;
using ManycoreMail.Metrics;
using ManycoreMail.Mime;
using ManycoreMail.Sending;
using ManycoreMail.Smtp;
using ManycoreMail.Smtp.Server;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Receiver;

/// <summary>
/// The submission port's decisions. As in the original, the SMTP envelope is accepted and ignored: the
/// recipients come from the To, Cc and Bcc headers. The message is checked at the door and acknowledged
/// only once it is durably queued.
/// </summary>
internal sealed class SubmissionHandler(
    LoginCheck logins,
    IngressQueue queue,
    MetricsRegistry metrics,
    ILogger logger,
    int maxHeaderRecipients,
    TimeProvider? time = null) : ISmtpHandler
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Counter _warnings = metrics.Counter("receiver_warnings_total", "Failed logins and other warnings.");

    public ValueTask<bool> AuthenticateAsync(SmtpSessionInfo session, string user, string password, CancellationToken cancellationToken)
    {
        var ok = logins.Matches(user, password);
        if (!ok)
        {
            _warnings.Increment();
            logger.LogWarning("Failed SMTP login for user {User} from {Remote}", user, session.RemoteEndPoint);
        }
        return ValueTask.FromResult(ok);
    }

    public ValueTask<SmtpReply> MailFromAsync(SmtpSessionInfo session, string reversePath, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new SmtpReply(250, "2.1.0", "Sender OK"));

    public ValueTask<SmtpReply> RcptToAsync(SmtpSessionInfo session, string reversePath, string forwardPath, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new SmtpReply(250, "2.1.5", "Recipient OK (recipients are taken from the message headers)"));

    public async ValueTask<SmtpReply> MessageAsync(SmtpSessionInfo session, SmtpEnvelope envelope, ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        // The server hands over the body as pooled segments, valid only during this call. The header checks
        // and the store want one contiguous block, so this is the single copy a message costs between the socket
        // and the store: into a pooled buffer, returned once the store has it (IQueueStore never keeps a caller's
        // memory after EnqueueAsync/CommitAsync return). The envelope's DSN parameters and SMTPUTF8 travel with the
        // message as metadata (DsnCarry); its recipients are not used: they come from the headers, as in the original.
        var length = checked((int)message.Length);
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var bytes = rented.AsMemory(0, length);
            message.CopyTo(bytes.Span);
            return await AcceptAsync(session, envelope, bytes, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private async ValueTask<SmtpReply> AcceptAsync(SmtpSessionInfo session, SmtpEnvelope envelope, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        if (!IngressRules.TryAccept(bytes, PriorityRule.Lenient, out var accepted, out var headers, out var refusal))
        {
            queue.CountDropped();
            logger.LogInformation("Refused a message from {Remote}: {Reason}", session.RemoteEndPoint, refusal.Message);
            return new SmtpReply(refusal.SmtpCode, refusal.EnhancedStatus, refusal.Message);
        }
        if (!HeaderRecipientLimit.Allows(accepted, maxHeaderRecipients, out var tooMany))
        {
            queue.CountDropped();
            logger.LogInformation("Refused a message from {Remote}: {Reason}", session.RemoteEndPoint, tooMany);
            return new SmtpReply(550, "5.5.3", tooMany);
        }
        if (!TryApplyTenant(session, bytes, headers, out var queued, out var tenant, out var tenantRefusal))
        {
            queue.CountDropped();
            logger.LogInformation("Refused a message from {Remote}: {Reason}", session.RemoteEndPoint, tenantRefusal.Message);
            return new SmtpReply(tenantRefusal.SmtpCode, tenantRefusal.EnhancedStatus, tenantRefusal.Message);
        }
        // An X-Tenant put in front is the only change to the bytes: X-Send-At reads the same from the headers parsed above.
        if (!SendAtHeader.TryRead(headers, _time.GetUtcNow(), out var holdUntil, out var badSendAt))
        {
            queue.CountDropped();
            logger.LogInformation("Refused a message from {Remote}: {Reason}", session.RemoteEndPoint, badSendAt.Message);
            return new SmtpReply(badSendAt.SmtpCode, badSendAt.EnhancedStatus, badSendAt.Message);
        }
        if (!await queue.TryEnqueueOrHoldAsync(accepted, queued, holdUntil, tenant, cancellationToken, DsnCarry.FromSubmission(envelope)).ConfigureAwait(false))
        {
            return new SmtpReply(451, "4.3.0", "Queue unavailable, please try again later");
        }
        return new SmtpReply(250, "2.0.0", $"Queued as {accepted.Uuid}");
    }

    /// <summary>The tenant rules (<see cref="SubmissionTenant"/>) for the login the session authenticated as; a trusted
    /// client that did not log in sends for the tenant its message names.</summary>
    private bool TryApplyTenant(SmtpSessionInfo session, ReadOnlyMemory<byte> bytes, MessageHeaders headers, out ReadOnlyMemory<byte> queued, out string? tenant, out IngressRefusal refusal) =>
        SubmissionTenant.TryApply(bytes, headers, logins.TenantOf(session.AuthenticatedUser), out queued, out tenant, out refusal);
}
