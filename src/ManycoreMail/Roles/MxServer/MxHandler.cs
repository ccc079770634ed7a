using System.Buffers;
using ManycoreMail.AutoSuppression;
using ManycoreMail.Classification;
using ManycoreMail.Events;
using ManycoreMail.Metrics;
using ManycoreMail.Mime;
using ManycoreMail.ReportAuthentication;
using ManycoreMail.Smtp;
using ManycoreMail.Smtp.Server;
using ManycoreMail.Suppression;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.MxServer;

/// <summary>
/// The public MX: accepts mail only for our return-path domains (where bounce-&lt;uuid&gt;@ and
/// unsub-&lt;uuid&gt;@ live) and never relays. Unsubscribe mails become events; everything else is kept in
/// the eml directory. Every mail goes through <see cref="MailClassifier"/>, the same code as <c>mailer classify</c>:
/// bounces become one bounce event per failed recipient, feedback reports spam-report events, auto-replies
/// bounce events of type autoreply (as the original), unsubscribes unsubscribe events; only the rest is kept.
/// With forwarding configured, mail for an alias (and bounces to our SRS addresses) goes to <see cref="Forwarder"/>
/// first; only forwarding's own destinations are ever sent anywhere.
/// With a <see cref="SuppressionWriter"/>, a final bounce of class userunknown or hostunknown, a spam report and an
/// unsubscribe mail also add suppression entries (<see cref="AutomaticEntries"/>, <see cref="UnsubscribeScopes"/>); the
/// writer never waits for its store, so a store failure never changes the answer.
/// With <c>mxserver/inbound-routes</c>, a routed recipient's mail goes to <see cref="InboundAcceptor"/> (queued for the
/// customer's URL before the 250) and to nothing else; the mail's other recipients are handled as above.
/// Every report (bounce, feedback report, auto-reply, unsubscribe mail) is authenticated once, after classification
/// (<see cref="ReportPolicy"/>: SPF and DKIM within a deadline, then the report kind's rule); its events carry
/// <c>authenticated</c>, and only authenticated reports suppress unless <c>mxserver/suppress-unauthenticated</c> says
/// otherwise. Without a policy no report is authenticated.
/// </summary>
internal sealed class MxHandler(
    IReadOnlySet<string> acceptedDomains,
    EmlStore store,
    EventQueue events,
    MetricsRegistry metrics,
    TimeProvider time,
    ILogger<MxHandler> logger,
    Forwarder? forwarder = null,
    Func<ReadOnlyMemory<byte>, IReadOnlyList<string>, MailClassification>? classify = null,
    SuppressionWriter? suppressions = null,
    UnsubscribeScopes? unsubscribeScopes = null,
    InboundAcceptor? inbound = null,
    ReportPolicy? reports = null) : ISmtpHandler
{
    private readonly Counter _unsubscribes = metrics.Counter("mxserver_received_unsubscribe_total", "Unsubscribe mails received.");
    private readonly Counter _unclassified = metrics.Counter("mxserver_received_unclassified_total", "Mails received and stored unclassified.");
    private readonly Func<ReadOnlyMemory<byte>, IReadOnlyList<string>, MailClassification> _classify = classify ?? new MailClassifier().Classify;
    // One per bounce event emitted, by its type (hard, soft, unroutable, and autoreply as the original reports auto-replies).
    private readonly LabelledCounter _bounces = metrics.Family(
        new LabelledCounter("mxserver_received_bounce_total", "Bounce events from mails received, per bounce type.", "type"));
    private readonly Counter _spam = metrics.Counter("mxserver_received_spam_total", "Feedback (spam) reports received.");
    private readonly Counter _autoreplies = metrics.Counter("mxserver_received_autoreply_total", "Auto-replies received.");
    private readonly Counter _warnings = metrics.Counter("mxserver_warnings_total", "Refused recipients and other warnings.");

    public ValueTask<bool> AuthenticateAsync(SmtpSessionInfo session, string user, string password, CancellationToken cancellationToken) =>
        ValueTask.FromResult(false);

    public ValueTask<SmtpReply> MailFromAsync(SmtpSessionInfo session, string reversePath, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new SmtpReply(250, "2.1.0", "Sender OK"));

    public ValueTask<SmtpReply> RcptToAsync(SmtpSessionInfo session, string reversePath, string forwardPath, CancellationToken cancellationToken)
    {
        if (Routed(forwardPath) is not null)
        {
            return ValueTask.FromResult(new SmtpReply(250, "2.1.5", "Recipient OK"));
        }
        if (forwarder is not null && LocalRecipient.TryParse(forwardPath, forwarder.Domains, out var forwarded))
        {
            switch (forwarder.Classify(forwarded))
            {
                case ForwardingTarget.Alias or ForwardingTarget.SrsReturn:
                    return ValueTask.FromResult(new SmtpReply(250, "2.1.5", "Recipient OK"));
                case ForwardingTarget.BadSrs:
                case ForwardingTarget.Unknown when !acceptedDomains.Contains(forwarded.Domain):
                    forwarder.CountRefusedRecipient();
                    _warnings.Increment();
                    logger.LogInformation("Refused recipient {Recipient} from {Remote}: no such alias, or an invalid or expired SRS address", forwardPath, session.RemoteEndPoint);
                    return ValueTask.FromResult(new SmtpReply(550, "5.1.1", "No such recipient here"));
            }
        }
        if (LocalRecipient.TryParse(forwardPath, acceptedDomains, out _))
        {
            return ValueTask.FromResult(new SmtpReply(250, "2.1.5", "Recipient OK"));
        }
        _warnings.Increment();
        logger.LogInformation("Refused recipient {Recipient} from {Remote}: not one of our domains", forwardPath, session.RemoteEndPoint);
        return ValueTask.FromResult(new SmtpReply(550, "5.7.1", "Relaying denied: we accept mail only for our own domains"));
    }

    public async ValueTask<SmtpReply> MessageAsync(SmtpSessionInfo session, SmtpEnvelope envelope, ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        // Routed recipients are the inbound routes' alone: neither forwarded nor classified.
        var routed = new List<LocalRecipient>();
        var handledRecipients = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var recipient in envelope.Recipients)
        {
            if (Routed(recipient) is { } local)
            {
                routed.Add(local);
                handledRecipients.Add(recipient);
            }
        }
        if (forwarder is not null)
        {
            var toForward = new List<LocalRecipient>();
            foreach (var recipient in envelope.Recipients)
            {
                if (!handledRecipients.Contains(recipient) && LocalRecipient.TryParse(recipient, forwarder.Domains, out var local)
                    && forwarder.Classify(local) is ForwardingTarget.Alias or ForwardingTarget.SrsReturn)
                {
                    toForward.Add(local);
                    handledRecipients.Add(recipient);
                }
            }
            if (toForward.Count > 0)
            {
                var source = new ForwardSource($"{session.HeloName ?? "unknown"} ([{session.RemoteEndPoint.Address}])", session.IsTls ? "ESMTPS" : "ESMTP", LocalHandoff: false);
                var result = await forwarder.ForwardAsync(envelope.ReversePath, toForward, message.ToArray(), source, cancellationToken).ConfigureAwait(false);
                switch (result)
                {
                    case ForwardResult.Temporary:
                        return new SmtpReply(451, "4.4.0", "Cannot forward the message now, please try again later");
                    case ForwardResult.Refused refused:
                        return refused.Reply;
                }
                if (handledRecipients.Count == envelope.Recipients.Count && routed.Count == 0)
                {
                    return new SmtpReply(250, "2.0.0", "Message forwarded");
                }
            }
        }
        if (routed.Count > 0)
        {
            // After forwarding: a forwarding deferral (451) must not leave an inbound copy queued behind it.
            var refusal = await inbound!.AcceptAsync(session, envelope.ReversePath, routed,
                message.IsSingleSegment ? message.First : message.ToArray(), cancellationToken).ConfigureAwait(false);
            if (refusal is { } reply)
            {
                return reply;
            }
            if (envelope.Recipients.All(handledRecipients.Contains))
            {
                return new SmtpReply(250, "2.0.0", "Message accepted for delivery");
            }
        }
        var unsubscribes = new List<LocalRecipient>();
        var recipients = new List<string>();
        string? verpUuid = null;
        foreach (var recipient in envelope.Recipients)
        {
            if (!handledRecipients.Contains(recipient) && LocalRecipient.TryParse(recipient, acceptedDomains, out var local))
            {
                recipients.Add(local.LocalPart + "@" + local.Domain);
                verpUuid ??= local.BounceUuid;
                if (local.UnsubscribeUuid is not null)
                {
                    unsubscribes.Add(local);
                }
            }
        }
        try
        {
            var bytes = message.IsSingleSegment ? message.First : message.ToArray();
            if (unsubscribes.Count > 0)
            {
                var email = UnsubscribingAddress(bytes, envelope.ReversePath);
                var sender = await AuthenticateAsync(session, envelope.ReversePath, bytes, cancellationToken).ConfigureAwait(false);
                var authenticated = sender is not null && reports!.Trust.FromAligned(sender, ReportTrust.AuthorDomain(bytes));
                Count(authenticated, ReportPolicy.Unsubscribe, envelope.ReversePath, sender);
                foreach (var unsubscribe in unsubscribes)
                {
                    await events.EmitAsync(MailEvent.Unsubscribe(unsubscribe.UnsubscribeUuid!, now, email) with { Authenticated = authenticated }, cancellationToken).ConfigureAwait(false);
                    _unsubscribes.Increment();
                    if (email is not null && unsubscribeScopes is not null && suppressions?.Adds(SuppressionReason.Unsubscribe) == true && Suppresses(authenticated))
                    {
                        suppressions.Add(unsubscribeScopes.For(email, unsubscribe.Domain, now));
                    }
                }
                return new SmtpReply(250, "2.0.0", "Unsubscribe request accepted");
            }
            var verdict = Classify(bytes, recipients, envelope.ReversePath);
            switch (verdict.Kind)
            {
                case MailKind.Bounce when verdict.Recipients.Count > 0:
                {
                    var sender = await AuthenticateAsync(session, envelope.ReversePath, bytes, cancellationToken).ConfigureAwait(false);
                    var returned = sender is null ? null : ReturnedHeaders.Find(bytes);
                    var anyUnauthenticated = false;
                    foreach (var failed in verdict.Recipients)
                    {
                        // Per recipient: the returned headers may name one of them and not another.
                        var authenticated = sender is not null && reports!.Trust.Bounce(sender, verpUuid, returned, failed.Address);
                        anyUnauthenticated |= !authenticated;
                        var bounce = MailEvent.Bounce(verdict.Uuid, now, "", failed.Type, failed.Diagnostic, failed.Address) with { Class = failed.Class, Authenticated = authenticated };
                        await events.EmitAsync(bounce, cancellationToken).ConfigureAwait(false);
                        _bounces.Increment(failed.Type);
                        if (Suppresses(authenticated))
                        {
                            Suppress(AutomaticEntries.ForBounce(failed.Address, failed.Type, failed.Class, now));
                        }
                    }
                    Count(!anyUnauthenticated, ReportPolicy.Bounce, envelope.ReversePath, sender);
                    return new SmtpReply(250, "2.0.0", "Bounce accepted");
                }
                case MailKind.Feedback:
                {
                    var sender = await AuthenticateAsync(session, envelope.ReversePath, bytes, cancellationToken).ConfigureAwait(false);
                    var authenticated = sender is not null && reports!.Trust.Complaint(sender, ReportTrust.AuthorDomain(bytes));
                    Count(authenticated, ReportPolicy.Complaint, envelope.ReversePath, sender);
                    await events.EmitAsync(MailEvent.SpamReport(verdict.Uuid, now, verdict.Email) with { Authenticated = authenticated }, cancellationToken).ConfigureAwait(false);
                    _spam.Increment();
                    if (Suppresses(authenticated))
                    {
                        Suppress(AutomaticEntries.ForComplaint(verdict.Email, verdict.FeedbackType, now));
                    }
                    return new SmtpReply(250, "2.0.0", "Feedback report accepted");
                }
                case MailKind.AutoReply:
                {
                    var sender = await AuthenticateAsync(session, envelope.ReversePath, bytes, cancellationToken).ConfigureAwait(false);
                    var authenticated = sender is not null && reports!.Trust.FromAligned(sender, ReportTrust.AuthorDomain(bytes));
                    Count(authenticated, ReportPolicy.AutoReply, envelope.ReversePath, sender);
                    // As the original: an auto-reply is a bounce of type autoreply with an empty ip and reason.
                    await events.EmitAsync(MailEvent.Bounce(verdict.Uuid ?? "", now, "", BounceTypes.AutoReply, "", null) with { Authenticated = authenticated }, cancellationToken).ConfigureAwait(false);
                    _autoreplies.Increment();
                    _bounces.Increment(BounceTypes.AutoReply);
                    return new SmtpReply(250, "2.0.0", "Auto-reply accepted");
                }
            }
            var file = await store.SaveAsync(message, now, cancellationToken).ConfigureAwait(false);
            _unclassified.Increment();
            logger.LogInformation("Stored unclassified mail from <{Sender}> as {File}", envelope.ReversePath, file);
            return new SmtpReply(250, "2.0.0", "Message accepted");
        }
        catch (IOException e)
        {
            logger.LogError(e, "Could not keep a mail from {Remote}", session.RemoteEndPoint);
            return new SmtpReply(451, "4.3.0", "Temporary local problem, please try again later");
        }
    }

    /// <summary>The recipient as one of our addresses when an inbound route takes it, else null.</summary>
    private LocalRecipient? Routed(string address) =>
        inbound is not null && LocalRecipient.TryParse(address, inbound.Domains, out var local) && inbound.IsRouted(local) ? local : null;

    /// <summary>SPF and DKIM of the mail, once, within the policy's deadline; null without a policy (nothing is authenticated).</summary>
    private async Task<SenderAuthentication?> AuthenticateAsync(SmtpSessionInfo session, string reversePath, ReadOnlyMemory<byte> message, CancellationToken cancellationToken) =>
        reports is null ? null
            : await reports.Sender.CheckAsync(session.RemoteEndPoint.Address, session.HeloName ?? "", reversePath, message, cancellationToken).ConfigureAwait(false);

    private bool Suppresses(bool authenticated) => reports?.Suppresses(authenticated) ?? false;

    private void Count(bool authenticated, string kind, string reversePath, SenderAuthentication? sender)
    {
        if (authenticated)
        {
            return;
        }
        reports?.Count(authenticated, kind);
        logger.LogInformation("Unauthenticated {Kind} from <{Sender}>: {Checks}", kind, reversePath, sender?.Summary ?? "not checked (no report policy)");
    }

    private void Suppress(SuppressionEntry? entry)
    {
        if (entry is not null)
        {
            suppressions?.Add([entry]);
        }
    }

    /// <summary>Who unsubscribes: the mail's From address (a mail client's unsubscribe mail comes from the reader, while
    /// the envelope sender may be a forwarder's or a bounce address), else the envelope sender; null when neither is an
    /// address (a null sender and no usable From).</summary>
    internal static string? UnsubscribingAddress(ReadOnlyMemory<byte> message, string reversePath)
    {
        if (MessageHeaders.TryParse(message, out var headers, out _) && headers.First("From") is { } from
            && AddressParser.ParseList(from) is [var author, ..]
            && SuppressionNames.TryNormalizeEmail(author.Address, out var fromAddress))
        {
            return fromAddress;
        }
        return SuppressionNames.TryNormalizeEmail(reversePath, out var sender) ? sender : null;
    }

    /// <summary>The verdict, or Other when the classifier fails: an exception here used to become 451 for ever (the
    /// sender retries the same mail until it gives up, so a bounce is never processed); kept unclassified in the eml
    /// directory instead, with a log line, the mail can be looked at and classified later.</summary>
    private MailClassification Classify(ReadOnlyMemory<byte> message, IReadOnlyList<string> recipients, string sender)
    {
        try
        {
            return _classify(message, recipients);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Could not classify a mail from <{Sender}>; keeping it unclassified", sender);
            return new MailClassification { Kind = MailKind.Other, Evidence = "classifier-error" };
        }
    }
}
