using System.Net.Sockets;
using ManycoreMail.Delivery;
using ManycoreMail.Queue;
using ManycoreMail.Relay;
using ManycoreMail.Smtp;
using ManycoreMail.Smtp.Client;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.MxServer;

/// <summary>One message to send on: envelope and bytes (CRLF, our trace fields already prepended).</summary>
internal sealed record OutboundMessage(string ReturnPath, IReadOnlyList<string> Recipients, ReadOnlyMemory<byte> Message);

/// <summary>What became of a hand-off, as the sending server (or the HTTP caller) must hear it.</summary>
internal abstract record ForwardResult
{
    private ForwardResult() { }

    /// <summary>Taken: queued durably, or accepted by the relay.</summary>
    public sealed record Forwarded(int Recipients) : ForwardResult;

    /// <summary>Try again later (queue unavailable, relay unreachable or deferring).</summary>
    public sealed record Temporary(string Reason) : ForwardResult;

    /// <summary>Never: a loop, or the relay refused every recipient for good.</summary>
    public sealed record Refused(SmtpReply Reply) : ForwardResult;
}

/// <summary>Where forwarded mail goes from here. Either every message of a call is taken, or the call reports
/// trouble, so the sending server's retry covers everything.</summary>
internal interface IForwardingRoute
{
    ValueTask<ForwardResult> SendAsync(IReadOnlyList<OutboundMessage> messages, CancellationToken cancellationToken);
}

/// <summary>Onto the sender's outbound queue (INCOMING-TO-POSTFIX), all messages in one transaction: the sender
/// delivers them as any mail, by MX or through its configured smarthost, with its retries.</summary>
internal sealed class QueueForwardingRoute(IQueueStore store, string outboundQueue) : IForwardingRoute
{
    public async ValueTask<ForwardResult> SendAsync(IReadOnlyList<OutboundMessage> messages, CancellationToken cancellationToken)
    {
        var transaction = new QueueTransaction();
        foreach (var message in messages)
        {
            transaction.Enqueue(outboundQueue, new QueueItem(
                new MessageEnvelope { ReturnPath = message.ReturnPath, Recipients = message.Recipients }, message.Message));
        }
        try
        {
            await store.CommitAsync(transaction, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Spool full or failing, Redis away: the sender of the mail keeps it and retries.
            return new ForwardResult.Temporary($"queue unavailable ({e.GetType().Name})");
        }
        return new ForwardResult.Forwarded(messages.Sum(m => m.Recipients.Count));
    }
}

/// <summary>
/// Straight to a smarthost while the sending server waits (the pipeline seed's model: the API forwards through an
/// SMTP relay and answers non-2xx on trouble). The relay's verdict becomes ours: a recipient it refuses for good
/// is refused for good (the original sender's server bounces it), anything temporary is a 4xx / 503. The relay is
/// reached through the same <see cref="RelayConnector"/> as the sender's smarthosts: verified, and credentials only
/// inside TLS; a relay that fails those checks is a temporary failure, never a plain-text fallback. Each of its
/// addresses is tried in turn, as the sender does (<see cref="RelayDialer"/>).
/// </summary>
internal sealed class RelayForwardingRoute(RelayRoute relay, string heloName, TimeProvider time, ILogger logger) : IForwardingRoute
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(2);

    private readonly RelayDialer _dialer = new(relay, heloName, ConnectTimeout, CommandTimeout, time, logger);

    public async ValueTask<ForwardResult> SendAsync(IReadOnlyList<OutboundMessage> messages, CancellationToken cancellationToken)
    {
        try
        {
            var (connection, failure) = await _dialer.ConnectAsync(cancellationToken).ConfigureAwait(false);
            if (connection is null)
            {
                logger.LogWarning("Forwarding through relay {Relay} failed: {Error}", relay.Host, failure?.Reason);
                // The detail (addresses, TLS errors) is for our log, not for the sending server.
                return new ForwardResult.Temporary($"relay {relay.Host} unavailable");
            }
            await using (connection.ConfigureAwait(false))
            {
                var accepted = 0;
                SmtpReply? refusal = null;
                foreach (var message in messages)
                {
                    var result = await connection.SendAsync(message.ReturnPath, message.Recipients, message.Message, cancellationToken).ConfigureAwait(false);
                    var delivered = result.DataReply is { Code: >= 200 and < 300 };
                    // A recipient deferred means the whole call is retried, even if others got it: a duplicate
                    // is better than a lost mail.
                    if (IsTemporary(result.MailFromReply) || result.DataReply is { } data && IsTemporary(data)
                        || result.RecipientReplies.Any(r => IsTemporary(r.Reply)))
                    {
                        var reply = result.RecipientReplies.Select(r => r.Reply).Append(result.DataReply ?? result.MailFromReply).First(IsTemporary);
                        return new ForwardResult.Temporary($"relay {relay.Host} deferred: {reply}");
                    }
                    if (delivered)
                    {
                        accepted += result.RecipientReplies.Count(r => r.Reply.Code is >= 200 and < 300);
                    }
                    refusal ??= result.RecipientReplies.Select(r => r.Reply).Append(result.DataReply ?? result.MailFromReply)
                        .Where(r => r.Code >= 500).Select(r => (SmtpReply?)r).FirstOrDefault();
                }
                await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
                if (accepted > 0)
                {
                    if (refusal is { } partly)
                    {
                        logger.LogWarning("Relay {Relay} refused some forwarded recipients: {Reply}", relay.Host, partly);
                    }
                    return new ForwardResult.Forwarded(accepted);
                }
                return new ForwardResult.Refused(refusal ?? new SmtpReply(554, "5.0.0", "relay refused the message"));
            }
        }
        catch (SmtpAddressException e)
        {
            // A fact about the mail, not the relay: an SRS return path made from a UTF-8 sender (accepted with
            // SMTPUTF8) cannot be written by our client, so a retry would fail the same way for ever.
            logger.LogWarning("Cannot forward through relay {Relay}: {Error}", relay.Host, e.Message);
            return new ForwardResult.Refused(new SmtpReply(553, "5.6.7", $"Cannot forward this mail: {e.Problem}"));
        }
        catch (Exception e) when (e is SmtpClientException or SocketException or IOException or TimeoutException)
        {
            logger.LogWarning("Forwarding through relay {Relay} failed: {Error}", relay.Host, e.Message);
            return new ForwardResult.Temporary($"relay {relay.Host} unavailable");
        }
    }

    private static bool IsTemporary(SmtpReply reply) => reply.Code is >= 400 and < 500;
}
