using ManycoreMail.Delivery;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Sender;

/// <summary>
/// The maillog line operators grep: one Information entry per recipient per attempt, <c>delivered</c>, <c>deferred</c>
/// or <c>bounced</c>, with the message uuid, recipient, site, MX host, IP, the server's reply and the time since the
/// message was accepted. Each is a structured field, so <c>MAILER_LOG_FORMAT=json</c> has them as members.
/// </summary>
internal static partial class RecipientOutcomeLog
{
    public const string Delivered = "delivered";
    public const string Deferred = "deferred";
    public const string Bounced = "bounced";

    /// <param name="expired">Deferred recipients whose queue lifetime ran out: they bounced in this settlement.</param>
    public static void Write(ILogger logger, string? uuid, string site, RecipientOutcome outcome, IReadOnlyList<RecipientOutcome.Bounced> expired, TimeSpan delay)
    {
        if (!logger.IsEnabled(LogLevel.Information))
        {
            return;
        }
        switch (outcome)
        {
            case RecipientOutcome.Delivered delivered:
                Outcome(logger, Delivered, uuid, delivered.Recipient, site, delivered.MxHost, delivered.Ip, delivered.Reply, delay);
                break;
            case RecipientOutcome.Bounced bounced:
                Outcome(logger, Bounced, uuid, bounced.Recipient, site, bounced.MxHost, bounced.Ip, bounced.Reply ?? bounced.Reason, delay);
                break;
            case RecipientOutcome.Deferred deferred when expired.FirstOrDefault(e => e.Recipient == deferred.Recipient) is { } bounce:
                Outcome(logger, Bounced, uuid, deferred.Recipient, site, deferred.MxHost, null, bounce.Reason, delay);
                break;
            case RecipientOutcome.Deferred deferred:
                Outcome(logger, Deferred, uuid, deferred.Recipient, site, deferred.MxHost, null, deferred.Reply ?? deferred.Reason, delay);
                break;
        }
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "{Status} uuid={Uuid} to=<{Recipient}> site={Site} mx={MxHost} ip={Ip} delay={Delay} reply={Reply}")]
    private static partial void Outcome(ILogger logger, string status, string? uuid, string recipient, string site, string? mxHost, string? ip, string? reply, TimeSpan delay);
}
