using System.Globalization;
using System.Text;
using ManycoreMail.Config;
using ManycoreMail.Ingress;
using ManycoreMail.Mime;
using ManycoreMail.Queue;

namespace ManycoreMail.Roles.Transformer;

/// <summary>The result of transforming one message: the bytes to send and their envelope, or why not.</summary>
internal abstract record TransformOutcome
{
    private TransformOutcome() { }

    /// <summary>The message to send is <paramref name="Prefix"/> followed by the submitted message from
    /// <paramref name="SubmittedOffset"/> on (its body, untouched), or <paramref name="Prefix"/> alone when that is
    /// null (the body was rewritten). Kept apart so that the spool need not write an unchanged body again.</summary>
    public sealed record Ready(byte[] Prefix, int? SubmittedOffset, MessageEnvelope Envelope, IReadOnlyList<string> Warnings) : TransformOutcome
    {
        /// <summary>The whole message to send, given the submitted one.</summary>
        public byte[] Message(ReadOnlySpan<byte> submitted) =>
            SubmittedOffset is { } offset ? [.. Prefix, .. submitted[offset..]] : Prefix;
    }

    /// <summary><paramref name="Uuid"/> is known when the message got that far (as in the original's events).</summary>
    public sealed record Failed(string Reason, string? Uuid) : TransformOutcome;
}

/// <summary>
/// Turns a submitted message into the one that is sent (spec §5.2): control headers removed, Message-ID,
/// Date, X-Mailer, Feedback-ID and the injected headers set, the tracking pixel added, then DKIM-signed.
/// Pure: no I/O, so it is tested directly against the original's fixtures.
/// </summary>
internal sealed class MessageTransformer(TransformerOptions options, IReadOnlyDictionary<string, SendingDomain> domains)
{
    // Headers that only steer us, or that must not leave (Bcc: its recipients get the mail, nobody sees it).
    private static readonly string[] ControlHeaders = ["X-Uuid", "X-Stream-Id", "X-Priority", "Bcc", "X-ReturnPathIb", "X-RecipientIb"];

    public TransformOutcome Transform(ReadOnlyMemory<byte> message, DateTimeOffset now)
    {
        if (!MessageHeaders.TryParse(message, out var headers, out var parseError))
        {
            return new TransformOutcome.Failed("Malformed message header: " + parseError, null);
        }
        var uuid = headers.First("X-Uuid");
        var fromValue = headers.First("From");
        var from = fromValue is null ? null : AddressParser.ParseList(fromValue).FirstOrDefault();
        if (from is null)
        {
            return new TransformOutcome.Failed(fromValue is null ? "Missing From header" : $"No address in From header '{fromValue}'", uuid);
        }
        var fromDomain = from.Domain.TrimEnd('.').ToLowerInvariant();
        if (!domains.TryGetValue(fromDomain, out var domain))
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

        var warnings = new List<string>();
        var returnPathDomain = domain.Settings.ReturnPathDomain;
        var streamId = headers.First("X-Stream-Id");
        var campaign = string.IsNullOrEmpty(streamId) ? options.FeedbackCampaignId : streamId;

        var rewriter = new MessageRewriter(message, headers);
        foreach (var name in ControlHeaders)
        {
            rewriter.Remove(name);
        }
        rewriter.Remove("Message-ID").Remove("Date");
        rewriter.Append("Date", now.ToUniversalTime().ToString("ddd, d MMM yyyy HH:mm:ss +0000", CultureInfo.InvariantCulture));
        if (options.XMailer is not null)
        {
            rewriter.Remove("X-Mailer").Append("X-Mailer", options.XMailer);
        }
        rewriter.Append("Message-ID", $"<{uuid}@{returnPathDomain}>");
        rewriter.Append("Feedback-ID", $"{campaign}:{uuid}:{options.FeedbackMailType}:{options.FeedbackSenderId}");
        foreach (var (name, template) in options.InjectHeaders)
        {
            if (headers.First(name) is not null)
            {
                warnings.Add($"replaced the message's own {name} header");
            }
            rewriter.Remove(name).Append(name, ExpandTemplate(template, uuid, returnPathDomain));
        }

        if (domain.Settings.BeaconUrl is { } beaconTemplate)
        {
            var pixel = BeaconPixel(beaconTemplate, streamId, warnings);
            if (pixel is not null && HtmlBeacon.Inject(message, headers, pixel) is { } newBody)
            {
                rewriter.ReplaceBody(newBody);
            }
        }

        byte[] prefix;
        int? submittedOffset;
        if (rewriter.TryGetHeaderBlock(out var headerBlock, out var bodyOffset))
        {
            // The body is the submitted one byte for byte: sign it where it lies, and hand on only the new header.
            var signature = domain.Signer.Sign(headerBlock, message.Span[bodyOffset..], now);
            prefix = Concatenate(signature, headerBlock);
            submittedOffset = bodyOffset;
        }
        else
        {
            var unsigned = rewriter.ToArray();
            prefix = Concatenate(domain.Signer.Sign(unsigned, now), unsigned);
            submittedOffset = null;
        }

        var envelope = new MessageEnvelope
        {
            Uuid = uuid,
            Campaign = string.IsNullOrEmpty(streamId) ? null : streamId,
            ReturnPath = $"bounce-{uuid}@{returnPathDomain}",
            Recipients = recipients.Select(r => r.Address).ToArray(),
        };
        return new TransformOutcome.Ready(prefix, submittedOffset, envelope, warnings);
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
