using System.Text.RegularExpressions;

namespace ManycoreMail.Classification;

/// <summary>
/// Decides what a mail received by the MX server is. One code path serves the MX server and
/// <c>mailer classify</c>. Standards first: the envelope (unsub-/bounce- addresses), RFC 5965 feedback
/// reports, RFC 3464 delivery-status reports; then RFC 3834 auto-reply markers; only then the structure and
/// well-known wordings of non-standard bounces. Stateless and thread-safe.
/// </summary>
public sealed partial class MailClassifier
{
    private const int MaxTextRecipients = 50;

    [GeneratedRegex(@"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+",
        RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex AddressPattern();

    private static readonly string[] BounceSenders = ["mailer-daemon", "postmaster", "mail delivery", "mail-daemon", "maildaemon", "mailerdaemon", "mdaemon", "mail administrator", "mail system", "postoffice", "mmdf", "smtp gateway", "exchange admin", "mail delivery subsystem", "microsoftexchange"];

    private static readonly string[] BounceSubjects =
    [
        "undeliver", "undelivered", "delivery status notification", "failure notice", "returned mail", "delivery failure", "mail delivery failed",
        "delivery problem", "could not be delivered", "nondeliverable", "non-deliverable", "non-delivery", "mail system error", "returned to sender",
        "delivery failed", "delivery notification", "could not send", "delayed mail", "delivery delayed", "not delivered", "bounce", "error sending",
        "delivery report", "mail failure", "message failure", "failed delivery", "delivery has failed", "nicht zustellbar", "unzustellbar",
        "non remis", "no entregado", "mail could not", "permanent error", "unable to deliver", "rejected", "warning: message", "unsent message",
        "failed mail", "message status", "delivery notice", "mail error", "system administrator", "error", "returned", "failure", "delayed",
    ];

    private static readonly string[] BounceBodyMarkers =
    [
        "this is the qmail-send program", "created automatically by mail delivery software", "permanent fatal errors",
        "the original message was received at", "i'm sorry to have to inform you", "delivery to the following recipient",
        "could not be delivered to", "this is the mail system at host", "did not reach some or all of the intended recipients",
        "delivery has failed to these recipients", "was not delivered to", "message could not be delivered", "delivery to the following recipients failed",
        "your message cannot be delivered", "unable to deliver your message", "your message was not delivered", "undeliverable", "has not been delivered",
        "following recipients failed", "failed to deliver", "delivery failed", "could not deliver", "is undeliverable", "returned to you",
        "permanent error", "your message has been rejected", "could not be delivered", "following address(es) failed", "delivery failure",
        "message you sent", "message that you sent", "transcript of session follows", "sorry, we were unable to deliver", "unable to deliver",
        "not be delivered", "delivery attempts", "retry time", "has been delayed", "delivery to the following",
        "did not reach the following recipient", "there was an error delivering your mail", "error delivering", "mail delivery failed",
        "could not be delivered", "delivery status notification", "the following addresses", "message was undeliverable",
        "your message wasn't delivered", "address not found", "rejected your message", "not delivered to", "permanently failed",
        "temporarily failed", "delivery incomplete", "message not delivered", "returning message to sender", "failed permanently",
        "no such user", "user unknown", "sorry, no mailbox here", "recipient address rejected",
    ];

    private static readonly string[] OriginalMarkers =
    [
        "------ this is a copy of the message", "--- below this line is a copy of the message", "------- original message",
        "original message follows", "----- original message -----", "------ original message", "--- original message", "----- transcript of session",
        "---- the following is the original message", "original message header", "------ received message", "--- the header of the original message",
        "----- unsent message below", "unsent message below", "------ this is a copy of your message", "message headers follow", "--- original message follows",
        "a copy of the original message", "original text follows", "the text you sent follows", "------- returned message", "--- returned message",
        "included below is a copy", "the message you sent", "original mail follows", "-- original message", "reporting-mta:",
    ];

    private static readonly string[] AutoReplySubjects =
    [
        "out of office", "out of the office", "auto reply", "autoreply", "auto-reply", "automatic reply", "automatische antwort", "vacation",
        "away from", "abwesenheit", "absence", "réponse automatique", "reponse automatique", "risposta automatica", "respuesta automática",
        "respuesta automatica", "autosvar", "autoresponse", "auto response", "auto-response", "i am currently out", "on holiday", "on leave",
        "odpowiedź automatyczna", "automatyczna odpowiedź", "autoresponder", "please confirm your", "confirm your email", "verify your email",
        "challenge", "sender verification", "spam arrest", "boxbe", "request for verification", "antwort", "автоответ", "automatisch antwoord",
        "afwezig", "fuera de la oficina", "congés", "ausente", "vacances", "urlaub", "thank you for your e-mail", "thank you for your email",
        "thank you for your message", "thanks for your email", "thanks for your message",
    ];

    private static readonly string[] AutoReplyBodyWordings =
    [
        "out of office", "out of the office", "on vacation", "on holiday", "i am away", "i'm away", "i will be away", "currently away",
        "limited access to email", "limited access to my email", "return on", "back in the office", "i will respond", "will be back",
        "auto-reply", "autoreply", "automatic reply", "please verify", "verify that you are", "confirm that you are", "challenge",
        "reply as soon as possible", "respond as soon as possible", "get back to you", "thank you for your e-mail", "thank you for your email",
    ];

    /// <summary>Classifies one mail.</summary>
    /// <param name="message">The whole message as received (any line ends).</param>
    /// <param name="envelopeRecipients">The SMTP RCPT TO addresses, when known (the MX server knows them; files do not).</param>
    /// <remarks>The verdict is made from slices of <paramref name="message"/>, never a copy per MIME level.</remarks>
    public MailClassification Classify(ReadOnlyMemory<byte> message, IReadOnlyList<string>? envelopeRecipients = null)
    {
        string? envelopeUuid = null;
        foreach (var recipient in envelopeRecipients ?? [])
        {
            if (UuidOf(recipient, "unsub-") is { } unsubscribe)
            {
                return new MailClassification { Kind = MailKind.Unsubscribe, Uuid = unsubscribe, Evidence = "envelope" };
            }
            envelopeUuid ??= UuidOf(recipient, "bounce-");
        }

        var root = ReportEntity.Parse(message);
        return Feedback(root, envelopeUuid)
            ?? DeliveryStatus(root, envelopeUuid, out var successOnly)
            ?? (successOnly ? new MailClassification { Kind = MailKind.Other, Uuid = envelopeUuid, Evidence = "rfc3464-success" } : null)
            ?? AutoReply(root, envelopeUuid)
            ?? TextBounce(root, envelopeUuid)
            ?? new MailClassification { Kind = MailKind.Other, Uuid = envelopeUuid, Evidence = "none" };
    }

    // ---------------------------------------------------------------- RFC 5965 feedback reports

    private static MailClassification? Feedback(ReportEntity root, string? envelopeUuid)
    {
        ReportEntity? report = null;
        foreach (var entity in root.Descendants())
        {
            if (entity.Is("message", "feedback-report"))
            {
                report = entity;
                break;
            }
        }
        var reportType = root.ContentType.GetParameter("report-type");
        if (report is null && !string.Equals(reportType, "feedback-report", StringComparison.OrdinalIgnoreCase))
        {
            return NonArfFeedback(root, envelopeUuid);
        }

        var fields = report?.ContentFields() ?? [];
        string? Field(string name) => fields.Find(f => f.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;

        var original = EnclosedMessage(root);
        var email = AddressIn(Field("Original-Rcpt-To")) ?? AddressIn(Field("Removal-Recipient")) ?? AddressIn(original?.Header("To"));
        var uuid = envelopeUuid
            ?? UuidOf(AddressIn(Field("Original-Mail-From")), "bounce-")
            ?? (original is null ? null : UuidOfOriginal(original));
        return new MailClassification
        {
            Kind = MailKind.Feedback,
            Uuid = uuid,
            Email = email,
            FeedbackType = Field("Feedback-Type")?.Trim().ToLowerInvariant() ?? "abuse",
            Evidence = "arf",
        };
    }

    /// <summary>Pre-ARF feedback loops (old Yahoo, Hotmail JMRP-like, Zoho) send a plain complaint with the
    /// original attached and an "abuse"/"complaint" subject from a feedback address.</summary>
    private static MailClassification? NonArfFeedback(ReportEntity root, string? envelopeUuid)
    {
        var subject = (root.Header("Subject") ?? "").ToLowerInvariant();
        var from = (root.Header("From") ?? "").ToLowerInvariant();
        var looksLikeFbl = subject.Contains("complaint", StringComparison.Ordinal) || subject.Contains("abuse report", StringComparison.Ordinal)
            || subject.Contains("feedback", StringComparison.Ordinal) && (subject.Contains("loop", StringComparison.Ordinal) || subject.Contains("report", StringComparison.Ordinal))
            || from.Contains("feedback", StringComparison.Ordinal) || from.Contains("fbl", StringComparison.Ordinal) || from.Contains("abuse", StringComparison.Ordinal)
            || root.Header("X-HmXmrOriginalRecipient") is not null || root.Header("X-Feedback-Type") is not null;
        if (!looksLikeFbl || subject.Contains("delivery", StringComparison.Ordinal))
        {
            return null;
        }
        var original = EnclosedMessage(root);
        return new MailClassification
        {
            Kind = MailKind.Feedback,
            Uuid = envelopeUuid ?? (original is null ? null : UuidOfOriginal(original)),
            Email = AddressIn(root.Header("X-HmXmrOriginalRecipient")) ?? AddressIn(original?.Header("To")),
            FeedbackType = "abuse",
            Evidence = "fbl",
        };
    }

    // ---------------------------------------------------------------- RFC 3464 delivery-status reports

    private static MailClassification? DeliveryStatus(ReportEntity root, string? envelopeUuid, out bool successOnly)
    {
        successOnly = false;
        ReportEntity? statusPart = null;
        foreach (var entity in root.Descendants())
        {
            if (entity.Is("message", "delivery-status") || entity.Is("message", "global-delivery-status"))
            {
                statusPart = entity;
                break;
            }
        }
        // Some MTAs (Amazon WorkMail, a few gateways) write the RFC 3464 fields into the text part instead of a
        // message/delivery-status part: read them there when they are whole (a recipient and an action or status).
        var fields = statusPart?.Body ?? EmbeddedStatusFields(HumanReadableText(root));
        if (fields is null)
        {
            return null;
        }
        var (reportingMta, parsed) = DeliveryStatusReport.Parse(fields);
        if (parsed.Count == 0)
        {
            return null;
        }
        var humanText = ErrorSection(HumanReadableText(root));
        var recipients = new List<BounceRecipient>();
        var delivered = false;
        foreach (var r in parsed)
        {
            var action = r.Action ?? (r.Status?[0] switch { '2' => "delivered", '4' => "delayed", _ => "failed" });
            if (action is "delivered" or "relayed" or "expanded")
            {
                delivered = true;
                continue;
            }
            if (action is not ("failed" or "delayed") && r.Status?[0] is not ('4' or '5'))
            {
                continue;
            }
            var diagnostic = r.DiagnosticCode ?? "";
            var status = r.Status;
            // The remote server's own code is more precise than the reporting MTA's summary of it (Sendmail writes
            // "Status: 5.1.1" over "550 5.7.1 IP address blacklisted", Postfix "4.4.7" over a "450 4.7.1").
            if (StatusCodes.Find(diagnostic) is { } stated && !stated.EndsWith(".0.0", StringComparison.Ordinal)
                && (status is null || status.EndsWith(".0.0", StringComparison.Ordinal) || status[0] == stated[0]))
            {
                status = stated;
            }
            else if (status is null or "5.0.0" or "4.0.0")
            {
                status = StatusCodes.Find(diagnostic) ?? status;
            }
            var transient = action == "delayed" || status?[0] == '4' || status is null && StatusCodes.FindReplyClass(diagnostic) == '4';
            status ??= transient ? "4.0.0" : "5.0.0";
            var block = BlockAbout(humanText, r.Address);
            var context = diagnostic.Length > 0 ? diagnostic : block ?? humanText;
            var command = SmtpCommands.RefusedAt(diagnostic) ?? SmtpCommands.RefusedAt(block ?? (parsed.Count == 1 ? humanText : null));
            var reason = ClassifyReason(status, context, humanText, command);
            recipients.Add(new BounceRecipient(r.Address, TypeOf(transient, reason), reason, status,
                Shorten(diagnostic.Length > 0 ? diagnostic : context), r.RemoteMta ?? reportingMta, transient && action == "delayed" ? "delayed" : "failed"));
        }
        if (recipients.Count == 0)
        {
            successOnly = delivered;
            return null;
        }
        return new MailClassification
        {
            Kind = MailKind.Bounce,
            Uuid = envelopeUuid ?? UuidOfEnclosed(root),
            Recipients = recipients,
            Evidence = "rfc3464",
        };
    }

    private static string? EmbeddedStatusFields(string text)
    {
        var at = text.IndexOf("Final-Recipient:", StringComparison.OrdinalIgnoreCase);
        if (at < 0 || (text.IndexOf("\nStatus:", at, StringComparison.OrdinalIgnoreCase) < 0 && text.IndexOf("\nAction:", at, StringComparison.OrdinalIgnoreCase) < 0))
        {
            return null;
        }
        var start = text.LastIndexOf("Reporting-MTA:", at, StringComparison.OrdinalIgnoreCase);
        start = start < 0 ? text.LastIndexOf('\n', at) + 1 : start;
        return text[start..];
    }

    // ---------------------------------------------------------------- RFC 3834 auto-replies

    private static MailClassification? AutoReply(ReportEntity root, string? envelopeUuid)
    {
        if (IsFromMailSystem(root))
        {
            return null;
        }
        var autoSubmitted = root.Header("Auto-Submitted")?.Trim().ToLowerInvariant() ?? "";
        var precedence = root.Header("Precedence")?.Trim().ToLowerInvariant() ?? "";
        var subject = (root.Header("Subject") ?? "").ToLowerInvariant();
        var evidence =
            autoSubmitted.StartsWith("auto-replied", StringComparison.Ordinal) ? "auto-submitted"
            : IsYes(root.Header("X-Autoreply")) ? "x-autoreply"
            : root.Header("X-Autorespond") is not null || root.Header("X-Autoresponder") is not null ? "x-autorespond"
            : precedence == "auto_reply" ? "precedence"
            : root.Header("X-Vacation") is not null || root.Header("X-Mailer")?.Contains("vacation", StringComparison.OrdinalIgnoreCase) == true ? "vacation"
            : Array.Exists(AutoReplySubjects, subject.Contains) ? "subject"
            : (autoSubmitted.Length > 0 && autoSubmitted != "no" || precedence is "bulk" or "junk" || root.Header("X-Auto-Response-Suppress") is not null)
                && Array.Exists(AutoReplyBodyWordings, HumanReadableText(root).ToLowerInvariant().Contains) ? "wording"
            : null;
        if (evidence is null)
        {
            return null;
        }
        var uuid = envelopeUuid;
        if (uuid is null)
        {
            foreach (var address in AddressesIn(root.Header("To")))
            {
                uuid ??= UuidOf(address, "bounce-");
            }
            uuid ??= MessageIdUuid(root.Header("In-Reply-To"));
        }
        return new MailClassification
        {
            Kind = MailKind.AutoReply,
            Uuid = uuid,
            Email = AddressIn(root.Header("From")),
            Evidence = evidence,
        };
    }

    private static bool IsYes(string? value) => value is not null && !value.Trim().Equals("no", StringComparison.OrdinalIgnoreCase);

    // ---------------------------------------------------------------- non-standard bounces

    private static MailClassification? TextBounce(ReportEntity root, string? envelopeUuid)
    {
        var subject = (root.Header("Subject") ?? "").ToLowerInvariant();
        var fromSystem = IsFromMailSystem(root);
        var text = HumanReadableText(root);
        var lower = text.ToLowerInvariant();
        var bodyMarker = Array.Exists(BounceBodyMarkers, lower.Contains);
        var subjectMarker = Array.Exists(BounceSubjects, subject.Contains);
        if (!(bodyMarker && (fromSystem || subjectMarker) || fromSystem && subjectMarker || bodyMarker && EnclosedMessage(root) is not null))
        {
            return null;
        }

        var section = ErrorSection(text);
        var excluded = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in new[] { "From", "To", "Reply-To", "Sender", "Return-Path", "Cc" })
        {
            foreach (var address in AddressesIn(root.Header(name)))
            {
                excluded.Add(address);
            }
        }
        var original = EnclosedMessage(root);
        foreach (var address in AddressesIn(original?.Header("From")))
        {
            excluded.Add(address);
        }

        var recipients = new List<BounceRecipient>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var address in CandidateRecipients(section))
        {
            if (excluded.Contains(address) || IsSystemAddress(address) || !seen.Add(address) || recipients.Count >= MaxTextRecipients)
            {
                continue;
            }
            var block = BlockAbout(section, address) ?? section;
            if (StatusCodes.Find(block)?[0] == '2' && StatusCodes.FindReplyClass(block) is null)
            {
                // "delivery via ...: 250 2.1.5 Ok": a success report line, not a failure.
                continue;
            }
            recipients.Add(TextRecipient(address, block, section));
        }
        if (recipients.Count == 0)
        {
            // The error text did not name anyone (a terse bounce): the returned original's To is the recipient.
            var to = AddressIn(original?.Header("To")) ?? InlineOriginalTo(text);
            if (to is null)
            {
                return null;
            }
            recipients.Add(TextRecipient(to.ToLowerInvariant(), section, section));
        }
        return new MailClassification
        {
            Kind = MailKind.Bounce,
            Uuid = envelopeUuid ?? UuidOfEnclosed(root),
            Recipients = recipients,
            Evidence = "text",
        };
    }

    private static BounceRecipient TextRecipient(string address, string block, string section)
    {
        var status = StatusCodes.Find(block) ?? StatusCodes.Find(section);
        var replyClass = StatusCodes.FindReplyClass(block) ?? StatusCodes.FindReplyClass(section);
        var lower = section.ToLowerInvariant();
        var transient = status is not null ? status[0] == '4'
            : replyClass is not null ? replyClass == '4'
            : lower.Contains("will be retried", StringComparison.Ordinal) || lower.Contains("will continue", StringComparison.Ordinal)
              || lower.Contains("still trying", StringComparison.Ordinal) || lower.Contains("temporary", StringComparison.Ordinal)
              || lower.Contains("not yet been delivered", StringComparison.Ordinal) || lower.Contains("has been delayed", StringComparison.Ordinal);
        status ??= transient ? "4.0.0" : "5.0.0";
        var reason = ClassifyReason(status, block, section, SmtpCommands.RefusedAt(block) ?? SmtpCommands.RefusedAt(section));
        return new BounceRecipient(address, TypeOf(transient, reason), reason, status, Shorten(block), null, transient ? "delayed" : "failed");
    }

    /// <summary>The To of an original quoted inline after the error text ("Message headers follow.").</summary>
    private static string? InlineOriginalTo(string text)
    {
        var normalized = text.Replace("\r\n", "\n", StringComparison.Ordinal);
        var lower = normalized.ToLowerInvariant();
        foreach (var marker in OriginalMarkers)
        {
            var at = lower.IndexOf(marker, StringComparison.Ordinal);
            if (at < 0)
            {
                continue;
            }
            foreach (var line in normalized[at..].Split('\n').Skip(1).Take(200))
            {
                if (line.StartsWith("To:", StringComparison.OrdinalIgnoreCase) && AddressIn(line[3..]) is { } to)
                {
                    return to;
                }
            }
        }
        return null;
    }

    private static IEnumerable<string> CandidateRecipients(string section)
    {
        foreach (var line in section.Split('\n'))
        {
            var trimmed = line.TrimStart();
            if (trimmed.StartsWith("From:", StringComparison.OrdinalIgnoreCase) || trimmed.StartsWith("Message-ID", StringComparison.OrdinalIgnoreCase)
                || trimmed.StartsWith("Reporting-MTA", StringComparison.OrdinalIgnoreCase) || trimmed.StartsWith("Received", StringComparison.OrdinalIgnoreCase)
                || trimmed.StartsWith("Sender", StringComparison.OrdinalIgnoreCase) || trimmed.StartsWith("Return-Path", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            foreach (Match match in AddressPattern().Matches(line))
            {
                var address = match.Value.Trim('.', '\'', '"').ToLowerInvariant();
                if (address.Contains("..", StringComparison.Ordinal) || address.StartsWith('.'))
                {
                    continue;
                }
                yield return address;
            }
        }
    }

    // ---------------------------------------------------------------- shared helpers

    private static string ClassifyReason(string status, string context, string wider, string? command) =>
        BounceReasons.Classify(status, context, ReferenceEquals(context, wider) ? null : wider, command);

    private static string TypeOf(bool transient, string reason) =>
        transient ? BounceTypes.Soft
        : reason == BounceReasons.HostUnknown ? BounceTypes.Unroutable
        : BounceTypes.Hard;

    private static bool IsFromMailSystem(ReportEntity root)
    {
        var from = (root.Header("From") ?? "").ToLowerInvariant();
        return Array.Exists(BounceSenders, from.Contains);
    }

    private static bool IsSystemAddress(string address)
    {
        var local = address[..address.IndexOf('@', StringComparison.Ordinal)];
        return local is "mailer-daemon" or "postmaster" or "root" or "noreply" or "no-reply" or "abuse"
            || local.StartsWith("bounce-", StringComparison.Ordinal) || local.StartsWith("unsub-", StringComparison.Ordinal)
            || local.StartsWith("mailer-daemon", StringComparison.Ordinal) || local.StartsWith("postmaster", StringComparison.Ordinal)
            || local.StartsWith("double-bounce", StringComparison.Ordinal);
    }

    /// <summary>The text meant for humans: the first text part outside any enclosed message (HTML stripped), else the body.</summary>
    internal static string HumanReadableText(ReportEntity root)
    {
        string? html = null;
        var stack = new Stack<ReportEntity>();
        stack.Push(root);
        var visited = 0;
        while (stack.Count > 0 && visited++ < ReportEntity.MaxParts)
        {
            var entity = stack.Pop();
            if (entity.ContentType.MediaType == "message")
            {
                continue;
            }
            if (entity.Children.Count > 0)
            {
                for (var i = entity.Children.Count - 1; i >= 0; i--)
                {
                    stack.Push(entity.Children[i]);
                }
                continue;
            }
            if (entity.Is("text", "plain") && entity.Body.Trim().Length > 0)
            {
                return entity.Body;
            }
            if (entity.Is("text", "html"))
            {
                html ??= StripTags(entity.Body);
            }
        }
        return html ?? (root.Children.Count == 0 ? root.Body : "");
    }

    [GeneratedRegex(@"<[^>]{0,2000}>", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex Tag();

    private static string StripTags(string html) =>
        System.Net.WebUtility.HtmlDecode(Tag().Replace(html.Replace("<br", "\n<br", StringComparison.OrdinalIgnoreCase).Replace("<p", "\n<p", StringComparison.OrdinalIgnoreCase).Replace("<div", "\n<div", StringComparison.OrdinalIgnoreCase).Replace("<tr", "\n<tr", StringComparison.OrdinalIgnoreCase), " "));

    /// <summary>The explanation part of a bounce text: everything before the returned original.</summary>
    private static string ErrorSection(string text)
    {
        var normalized = text.Replace("\r\n", "\n", StringComparison.Ordinal);
        var lower = normalized.ToLowerInvariant();
        var cut = normalized.Length;
        foreach (var marker in OriginalMarkers)
        {
            var at = lower.IndexOf(marker, StringComparison.Ordinal);
            if (at > 40 && at < cut)
            {
                cut = at;
            }
        }
        return normalized[..cut];
    }

    /// <summary>The lines about one recipient: from its first mention up to the next paragraph that names another address.</summary>
    private static string? BlockAbout(string section, string address)
    {
        var at = section.IndexOf(address, StringComparison.OrdinalIgnoreCase);
        if (at < 0)
        {
            return null;
        }
        var lineStart = section.LastIndexOf('\n', at) + 1;
        // "Your message To: x@y Subject: ... did not reach": the first mention may be a quoted header of the
        // original; the lines about the failure come at a later mention.
        for (var tries = 0; tries < 8 && QuotesHeader(section.AsSpan(lineStart, at - lineStart)); tries++)
        {
            var next = section.IndexOf(address, at + address.Length, StringComparison.OrdinalIgnoreCase);
            if (next < 0)
            {
                break;
            }
            at = next;
            lineStart = section.LastIndexOf('\n', at) + 1;
        }
        var end = lineStart;
        var lines = 0;
        var blankSeen = 0;
        while (end < section.Length && lines < 12)
        {
            var next = section.IndexOf('\n', end);
            next = next < 0 ? section.Length : next + 1;
            var line = section.AsSpan(end, next - end);
            if (lines > 0 && line.Trim().IsEmpty)
            {
                blankSeen++;
                if (blankSeen > 1)
                {
                    break;
                }
            }
            else if (lines > 0 && AddressPattern().IsMatch(line.ToString()) && !line.ToString().Contains(address, StringComparison.OrdinalIgnoreCase)
                && line.TrimStart().Length > 0 && blankSeen > 0)
            {
                break;
            }
            end = next;
            lines++;
        }
        return section[lineStart..end];
    }

    private static bool QuotesHeader(ReadOnlySpan<char> linePrefix)
    {
        var trimmed = linePrefix.Trim();
        return trimmed.StartsWith("To:", StringComparison.OrdinalIgnoreCase) || trimmed.StartsWith("Cc:", StringComparison.OrdinalIgnoreCase)
            || trimmed.StartsWith("From:", StringComparison.OrdinalIgnoreCase);
    }

    private static string Shorten(string text)
    {
        var collapsed = string.Join(' ', text.Split((char[])['\r', '\n', '\t', ' '], StringSplitOptions.RemoveEmptyEntries));
        return collapsed.Length > 500 ? collapsed[..500] : collapsed;
    }

    /// <summary>The returned original (message/rfc822 or headers) enclosed in a report, if any.</summary>
    private static ReportEntity? EnclosedMessage(ReportEntity root)
    {
        foreach (var entity in root.Descendants())
        {
            if (!ReferenceEquals(entity, root) && entity.ContentType.MediaType is "message" or "text" && entity.Children.Count == 1
                && entity.ContentType.MediaSubtype is "rfc822" or "global" or "rfc822-headers" or "global-headers")
            {
                return entity.Children[0];
            }
        }
        return null;
    }

    private static string? UuidOfEnclosed(ReportEntity root)
    {
        if (EnclosedMessage(root) is { } original)
        {
            return UuidOfOriginal(original);
        }
        // Text bounces often quote the original's headers inline.
        var text = root.Children.Count == 0 ? root.Body : HumanReadableText(root);
        foreach (var line in text.Split('\n'))
        {
            var trimmed = line.Trim();
            if (trimmed.StartsWith("X-Uuid:", StringComparison.OrdinalIgnoreCase) && IsUuid(trimmed[7..].Trim()))
            {
                return trimmed[7..].Trim();
            }
            if (trimmed.StartsWith("Message-ID:", StringComparison.OrdinalIgnoreCase) && MessageIdUuid(trimmed[11..]) is { } uuid)
            {
                return uuid;
            }
        }
        return null;
    }

    private static string? UuidOfOriginal(ReportEntity original)
    {
        if (original.Header("X-Uuid")?.Trim() is { } header && IsUuid(header))
        {
            return header;
        }
        foreach (var name in new[] { "Return-Path", "Sender", "Errors-To" })
        {
            if (UuidOf(AddressIn(original.Header(name)), "bounce-") is { } uuid)
            {
                return uuid;
            }
        }
        return MessageIdUuid(original.Header("Message-ID"));
    }

    /// <summary>Our Message-ID is &lt;uuid@return-path-domain&gt;.</summary>
    private static string? MessageIdUuid(string? messageId)
    {
        var address = AddressIn(messageId);
        if (address is null)
        {
            return null;
        }
        var local = address[..address.IndexOf('@', StringComparison.Ordinal)];
        return IsUuid(local) ? local : null;
    }

    /// <summary>The uuid of a <c>prefix&lt;uuid&gt;@</c> address: any [a-z0-9]+ (the original cut it at the first '-').</summary>
    public static string? UuidOf(string? address, string prefix)
    {
        if (address is null)
        {
            return null;
        }
        var at = address.LastIndexOf('@');
        var local = at < 0 ? address : address[..at];
        if (!local.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        var uuid = local[prefix.Length..];
        return IsUuid(uuid) ? uuid : null;
    }

    private static bool IsUuid(string value)
    {
        if (value.Length is 0 or > 128)
        {
            return false;
        }
        foreach (var c in value)
        {
            if (c is not (>= 'a' and <= 'z') and not (>= '0' and <= '9'))
            {
                return false;
            }
        }
        return true;
    }

    private static string? AddressIn(string? value)
    {
        foreach (var address in AddressesIn(value))
        {
            return address;
        }
        return null;
    }

    private static IEnumerable<string> AddressesIn(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            yield break;
        }
        foreach (Match match in AddressPattern().Matches(value))
        {
            yield return match.Value.ToLowerInvariant();
        }
    }
}
