using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using ManycoreMail.Config;
using ManycoreMail.Ingress;
using ManycoreMail.Mime;
using ManycoreMail.Queue;
using ManycoreMail.Suppression;
using ManycoreMail.Tracking;

namespace ManycoreMail.Roles.Transformer;

/// <summary>The result of transforming one message: the messages to send (one, or with tracking one per
/// recipient) and the recipients the suppression list stopped, or why nothing can be sent.</summary>
internal abstract record TransformOutcome
{
    private TransformOutcome() { }

    /// <summary>Nothing to send when every recipient is suppressed; the message is then done with only the
    /// <paramref name="Suppressed"/> events.</summary>
    public sealed record Ready(IReadOnlyList<OutboundMessage> Messages, IReadOnlyList<SuppressedRecipient> Suppressed,
        IReadOnlyList<string> Warnings) : TransformOutcome
    {
        /// <summary>The message's tenant and campaign, for the suppressed events (the envelopes carry them too, but
        /// there is none when every recipient is suppressed).</summary>
        public string? Tenant { get; init; }
        public string? Campaign { get; init; }
    }

    /// <summary><paramref name="Uuid"/> is known when the message got that far (as in the original's events).</summary>
    public sealed record Failed(string Reason, string? Uuid) : TransformOutcome;
}

/// <summary>One message to hand to the outbound queue: <paramref name="Prefix"/> followed by the submitted message
/// from <paramref name="SubmittedOffset"/> on (its body, untouched), or <paramref name="Prefix"/> alone when that is
/// null (the body was rewritten). Kept apart so that the spool need not write an unchanged body again.</summary>
internal sealed record OutboundMessage(byte[] Prefix, int? SubmittedOffset, MessageEnvelope Envelope)
{
    /// <summary>The whole message to send, given the submitted one.</summary>
    public byte[] Message(ReadOnlySpan<byte> submitted) =>
        SubmittedOffset is { } offset ? [.. Prefix, .. submitted[offset..]] : Prefix;
}

/// <summary>A recipient not sent to, and the entry that stopped it.</summary>
internal sealed record SuppressedRecipient(string Email, SuppressionEntry Entry);

/// <summary>A submitted message read far enough to know whom it goes to and who sends it: what the suppression
/// lookup needs before anything is signed.</summary>
internal sealed record SubmittedMessage(ReadOnlyMemory<byte> Bytes, MessageHeaders Headers, string Uuid, SendingDomain Domain,
    SendingContext Sender, IReadOnlyList<string> Recipients)
{
    /// <summary>The recipients as the suppression list keys them (an address it cannot key has no entry).</summary>
    public IEnumerable<string> LookupAddresses()
    {
        foreach (var recipient in Recipients)
        {
            if (SuppressionNames.TryNormalizeEmail(recipient, out var normalized))
            {
                yield return normalized;
            }
        }
    }
}

/// <summary>
/// Turns a submitted message into the ones that are sent (spec §5.2): control headers removed, Message-ID,
/// Date, X-Mailer, Feedback-ID and the injected headers set, suppressed recipients dropped, the tracking pixel,
/// click URLs and List-Unsubscribe added per recipient (or the beacon without tracking), then DKIM-signed.
/// Pure: no I/O, so it is tested directly against the original's fixtures.
/// </summary>
internal sealed class MessageTransformer
{
    // Headers that only steer us, or that must not leave (Bcc: its recipients get the mail, nobody sees it).
    private static readonly string[] ControlHeaders = ["X-Uuid", "X-Stream-Id", "X-Priority", "X-Tenant", "Bcc", "X-ReturnPathIb", "X-RecipientIb", "X-Send-At", "X-Campaign"];
    private static readonly string[] UnsubscribeHeaders = ["List-Unsubscribe", "List-Unsubscribe-Post"];

    /// <summary>A lookup that found nothing.</summary>
    public static readonly IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>> NoSuppressions =
        new Dictionary<string, IReadOnlyList<SuppressionEntry>>();

    private readonly TransformerOptions _options;
    private readonly IReadOnlyDictionary<string, SendingDomain> _domains;
    private readonly RecipientTracking? _tracking;
    private readonly List<string> _configurationWarnings = [];

    public MessageTransformer(TransformerOptions options, IReadOnlyDictionary<string, SendingDomain> domains, TrackingOptions? tracking = null)
    {
        _options = options;
        _domains = domains;
        _tracking = tracking is null ? null : new RecipientTracking(tracking);
        if (_tracking is { Unsubscribe: true })
        {
            foreach (var (name, _) in options.InjectHeaders.Where(h => IsUnsubscribeHeader(h.Key)))
            {
                _configurationWarnings.Add($"transformer/email-headers/inject/{name} is replaced by the List-Unsubscribe headers of tracking/unsubscribe");
            }
        }
    }

    /// <summary>Settings that work but not as written; the role logs them once at start.</summary>
    public IReadOnlyList<string> ConfigurationWarnings => _configurationWarnings;

    /// <summary>Read and transform in one step, with nobody suppressed.</summary>
    public TransformOutcome Transform(ReadOnlyMemory<byte> message, DateTimeOffset now) =>
        TryRead(message, out var submitted, out var failed) ? Transform(submitted, NoSuppressions, now) : failed;

    /// <summary>Reads the header block: the uuid, the sending domain, the sender and tenant, the recipients.</summary>
    public bool TryRead(ReadOnlyMemory<byte> message, [NotNullWhen(true)] out SubmittedMessage? submitted,
        [NotNullWhen(false)] out TransformOutcome.Failed? failed)
    {
        submitted = null;
        failed = Read(message, ref submitted);
        return failed is null;
    }

    private TransformOutcome.Failed? Read(ReadOnlyMemory<byte> message, ref SubmittedMessage? submitted)
    {
        if (!MessageHeaders.TryParse(message, out var headers, out var parseError))
        {
            return new TransformOutcome.Failed("Malformed message header: " + parseError, null);
        }
        var uuid = headers.First("X-Uuid");
        var fromValue = headers.First("From");
        var from = fromValue is null ? null : AddressParser.ParseList(fromValue).FirstOrDefault();
        if (from is null || !SuppressionNames.TryNormalizeEmail(from.Address, out _))
        {
            return new TransformOutcome.Failed(fromValue is null ? "Missing From header" : $"No address in From header '{fromValue}'", uuid);
        }
        var fromDomain = from.Domain.TrimEnd('.').ToLowerInvariant();
        if (!_domains.TryGetValue(fromDomain, out var domain))
        {
            return new TransformOutcome.Failed($"No domain-settings (DKIM key) for From domain '{fromDomain}'", uuid);
        }
        if (uuid is null)
        {
            return new TransformOutcome.Failed("X-Uuid missing", null);
        }
        var recipients = IngressRules.Recipients(headers);
        if (recipients.Count == 0)
        {
            return new TransformOutcome.Failed("No recipient in the To, Cc or Bcc headers", uuid);
        }
        var addresses = new string[recipients.Count];
        for (var i = 0; i < addresses.Length; i++)
        {
            addresses[i] = recipients[i].Address;
        }
        submitted = new SubmittedMessage(message, headers, uuid, domain, new SendingContext(from.Address, headers.First("X-Tenant")), addresses);
        return null;
    }

    /// <summary>The messages to send to the recipients that <paramref name="suppressions"/> (the active entries found
    /// for the recipients, keyed by normalised address) do not stop.</summary>
    public TransformOutcome Transform(SubmittedMessage submitted, IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>> suppressions,
        DateTimeOffset now)
    {
        var (sendTo, suppressed) = SplitSuppressed(submitted, suppressions, now);
        var warnings = new List<string>();
        var streamId = CampaignOf(submitted.Headers);
        if (sendTo.Count == 0)
        {
            return new TransformOutcome.Ready([], suppressed, warnings) { Tenant = submitted.Sender.Tenant, Campaign = streamId };
        }
        var uuid = submitted.Uuid;
        var returnPathDomain = submitted.Domain.Settings.ReturnPathDomain;
        var envelope = new MessageEnvelope
        {
            Uuid = uuid,
            Campaign = string.IsNullOrEmpty(streamId) ? null : streamId,
            Tenant = submitted.Sender.Tenant,
            ReturnPath = $"bounce-{uuid}@{returnPathDomain}",
            Recipients = sendTo,
        };
        if (!submitted.Domain.Signer.HasKeyValidAt(now))
        {
            warnings.Add($"no DKIM key of {submitted.Domain.Settings.Domain} is valid now (not-before / not-after); sent unsigned");
        }
        var beacon = submitted.Domain.Settings.BeaconUrl is { } beaconTemplate ? BeaconPixel(beaconTemplate, streamId, warnings) : null;

        var tracking = _tracking;
        if (tracking is not null && !TrackingToken.IsValidUuid(uuid))
        {
            warnings.Add("X-Uuid is not [a-z0-9] (at most 255 characters), which tracking tokens need; sent without tracking");
            tracking = null;
        }
        if (tracking is null)
        {
            var rewriter = RewriteHeaders(submitted, streamId, now, ownUnsubscribe: false, warnings);
            if (beacon is not null && HtmlBeacon.Inject(submitted.Bytes, submitted.Headers, beacon) is { } newBody)
            {
                rewriter.ReplaceBody(newBody);
            }
            return new TransformOutcome.Ready([Sign(submitted, rewriter, envelope, now)], suppressed, warnings) { Tenant = envelope.Tenant, Campaign = streamId };
        }

        // One message per recipient, so that every open, click and unsubscribe names its address.
        var messages = new OutboundMessage[sendTo.Count];
        var scope = tracking.Unsubscribe ? tracking.ScopeFor(submitted.Sender) : null;
        for (var i = 0; i < messages.Length; i++)
        {
            var recipient = sendTo[i];
            var copy = new TrackedCopy(uuid, recipient, envelope.Tenant, envelope.Campaign, now);
            // The warnings are the same for every copy: keep the first copy's.
            var rewriter = RewriteHeaders(submitted, streamId, now, ownUnsubscribe: scope is not null, i == 0 ? warnings : null);
            Dictionary<string, string>? placeholders = null;
            if (scope is not null)
            {
                var unsubscribeUrl = tracking.UnsubscribeUrl(copy, scope);
                rewriter.Append("List-Unsubscribe", $"<{unsubscribeUrl}>, <mailto:unsub-{uuid}@{returnPathDomain}>")
                    .Append("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
                placeholders = new(StringComparer.Ordinal) { [RecipientTracking.UnsubscribePlaceholder] = unsubscribeUrl };
            }
            var body = HtmlLinkRewriter.Rewrite(submitted.Bytes, submitted.Headers,
                tracking.Clicks ? url => tracking.ClickUrl(copy, url) : static _ => null,
                tracking.Opens ? tracking.PixelHtml(copy) : beacon,
                tracking.Clicks && tracking.TrackTextLinks,
                placeholders);
            if (body is not null)
            {
                rewriter.ReplaceBody(body);
            }
            messages[i] = Sign(submitted, rewriter, envelope with { Recipients = [recipient] }, now);
        }
        return new TransformOutcome.Ready(messages, suppressed, warnings) { Tenant = envelope.Tenant, Campaign = streamId };
    }

    /// <summary>The campaign: X-Stream-Id (the original's header) when set, else X-Campaign; null when neither is.</summary>
    internal static string? CampaignOf(MessageHeaders headers) =>
        headers.First("X-Stream-Id") is { Length: > 0 } streamId ? streamId
        : headers.First("X-Campaign") is { Length: > 0 } campaign ? campaign
        : null;

    private static (IReadOnlyList<string> SendTo, IReadOnlyList<SuppressedRecipient> Suppressed) SplitSuppressed(SubmittedMessage submitted,
        IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>> suppressions, DateTimeOffset now)
    {
        if (suppressions.Count == 0)
        {
            return (submitted.Recipients, []);
        }
        var sendTo = new List<string>(submitted.Recipients.Count);
        var suppressed = new List<SuppressedRecipient>();
        foreach (var recipient in submitted.Recipients)
        {
            var entry = SuppressionNames.TryNormalizeEmail(recipient, out var normalized) && suppressions.TryGetValue(normalized, out var entries)
                ? entries.FirstOrDefault(e => e.IsActiveAt(now) && submitted.Sender.IsStoppedBy(e))
                : null;
            if (entry is null)
            {
                sendTo.Add(recipient);
            }
            else
            {
                suppressed.Add(new SuppressedRecipient(recipient, entry));
            }
        }
        return (sendTo, suppressed);
    }

    /// <summary>Every header change but the per-recipient ones. <paramref name="warnings"/> null: not collected.</summary>
    private MessageRewriter RewriteHeaders(SubmittedMessage submitted, string? streamId, DateTimeOffset now, bool ownUnsubscribe, List<string>? warnings)
    {
        var headers = submitted.Headers;
        var uuid = submitted.Uuid;
        var returnPathDomain = submitted.Domain.Settings.ReturnPathDomain;
        var campaign = string.IsNullOrEmpty(streamId) ? _options.FeedbackCampaignId : streamId;
        var rewriter = new MessageRewriter(submitted.Bytes, headers);
        foreach (var name in ControlHeaders)
        {
            rewriter.Remove(name);
        }
        rewriter.Remove("Message-ID").Remove("Date");
        rewriter.Append("Date", now.ToUniversalTime().ToString("ddd, d MMM yyyy HH:mm:ss +0000", CultureInfo.InvariantCulture));
        if (_options.XMailer is not null)
        {
            rewriter.Remove("X-Mailer").Append("X-Mailer", _options.XMailer);
        }
        rewriter.Append("Message-ID", $"<{uuid}@{returnPathDomain}>");
        rewriter.Append("Feedback-ID", $"{campaign}:{uuid}:{_options.FeedbackMailType}:{_options.FeedbackSenderId}");
        foreach (var (name, template) in _options.InjectHeaders)
        {
            if (ownUnsubscribe && IsUnsubscribeHeader(name))
            {
                continue; // tracking writes its own (ConfigurationWarnings says so once)
            }
            if (headers.First(name) is not null)
            {
                warnings?.Add($"replaced the message's own {name} header");
            }
            rewriter.Remove(name).Append(name, ExpandTemplate(template, uuid, returnPathDomain));
        }
        if (ownUnsubscribe)
        {
            foreach (var name in UnsubscribeHeaders)
            {
                if (headers.First(name) is not null)
                {
                    warnings?.Add($"replaced the message's own {name} header with the tracking one");
                }
                rewriter.Remove(name);
            }
        }
        return rewriter;
    }

    private static bool IsUnsubscribeHeader(string name) =>
        UnsubscribeHeaders.Contains(name, StringComparer.OrdinalIgnoreCase);

    private static OutboundMessage Sign(SubmittedMessage submitted, MessageRewriter rewriter, MessageEnvelope envelope, DateTimeOffset now)
    {
        var signer = submitted.Domain.Signer;
        if (rewriter.TryGetHeaderBlock(out var headerBlock, out var bodyOffset))
        {
            // The body is the submitted one byte for byte: sign it where it lies, and hand on only the new header.
            var signature = signer.Sign(headerBlock, submitted.Bytes.Span[bodyOffset..], now);
            return new OutboundMessage(Concatenate(signature, headerBlock), bodyOffset, envelope);
        }
        var unsigned = rewriter.ToArray();
        return new OutboundMessage(Concatenate(signer.Sign(unsigned, now), unsigned), null, envelope);
    }

    private static byte[] Concatenate(byte[] first, byte[] second)
    {
        var joined = GC.AllocateUninitializedArray<byte>(first.Length + second.Length);
        first.CopyTo(joined, 0);
        second.CopyTo(joined, first.Length);
        return joined;
    }

    /// <summary>{{uuid}} and {{from-domain}}; the latter is the return-path domain, exactly as the original
    /// expands it: that is the domain whose MX reaches our MX server, so unsubscribe mails arrive.</summary>
    internal static string ExpandTemplate(string template, string uuid, string returnPathDomain) =>
        template.Replace("{{uuid}}", uuid, StringComparison.Ordinal)
                .Replace("{{from-domain}}", returnPathDomain, StringComparison.Ordinal);

    private static string? BeaconPixel(string template, string? streamId, List<string> warnings)
    {
        var url = template;
        foreach (var placeholder in (ReadOnlySpan<string>)["{{streamid}}", "{{ streamid }}", "{{stream-id}}", "{{ stream-id }}"])
        {
            if (!url.Contains(placeholder, StringComparison.Ordinal))
            {
                continue;
            }
            if (string.IsNullOrEmpty(streamId))
            {
                warnings.Add("beacon-url needs X-Stream-Id, which the message lacks; no pixel added");
                return null;
            }
            url = url.Replace(placeholder, Uri.EscapeDataString(streamId), StringComparison.Ordinal);
        }
        if (url.Contains("{{", StringComparison.Ordinal))
        {
            warnings.Add("beacon-url has an unknown placeholder; no pixel added");
            return null;
        }
        return $"<img width=\"1\" height=\"1\" border=\"0\" src=\"{EscapeAttribute(url)}\">";
    }

    private static string EscapeAttribute(string value)
    {
        var escaped = new StringBuilder(value.Length + 16);
        foreach (var c in value)
        {
            escaped.Append(c switch
            {
                '&' => "&amp;",
                '"' => "&quot;",
                '<' => "&lt;",
                '>' => "&gt;",
                _ => c.ToString(),
            });
        }
        return escaped.ToString();
    }
}
