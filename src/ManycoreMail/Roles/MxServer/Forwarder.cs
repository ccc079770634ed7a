using System.Globalization;
using System.Text;
using ManycoreMail.Metrics;
using ManycoreMail.Mime;
using ManycoreMail.Smtp;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.MxServer;

/// <summary>What a recipient of ours is, as far as forwarding goes.</summary>
internal enum ForwardingTarget
{
    /// <summary>Not forwarding's business (a return-path address, or not ours at all).</summary>
    None,
    /// <summary>An alias: forwarded to its real recipients with an SRS envelope sender.</summary>
    Alias,
    /// <summary>A valid SRS address of ours: a bounce (or reply) for a forwarded mail, sent back to its sender.</summary>
    SrsReturn,
    /// <summary>An alias domain without this alias.</summary>
    Unknown,
    /// <summary>Tagged as an SRS address of ours but forged, mangled or too old.</summary>
    BadSrs,
}

/// <summary>How a mail came to us, for the trace field we add and the loop check.</summary>
/// <param name="From">The Received field's "from" clause (client name and address).</param>
/// <param name="Protocol">ESMTP, ESMTPS, or HTTP.</param>
/// <param name="LocalHandoff">True for a local MTA's pipe (POST /v1/email): the fields it put above its own
/// Received (Delivered-To, X-Original-To, Return-Path) describe this very delivery and are not loop evidence.</param>
internal sealed record ForwardSource(string From, string Protocol, bool LocalHandoff);

/// <summary>
/// Inbound forwarding, the same for SMTP (MX server) and HTTP (<c>POST /v1/email</c>): alias mail goes to the
/// alias's real recipients with the envelope sender rewritten by SRS (so the recipients' SPF check sees our
/// domain, which allows us); mail to one of our SRS addresses is a bounce for a forwarded mail and goes back to
/// the original sender with the null sender. Nothing else is ever sent anywhere: the only destinations are the
/// configured targets and senders proven by an SRS hash. A Delivered-To of the alias already in the message, or
/// too many Received fields, is a loop and refused for good.
/// </summary>
internal sealed class Forwarder
{
    private readonly ForwardingOptions _options;
    private readonly IForwardingRoute _route;
    private readonly string _hostName;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Counter _forwarded;
    private readonly Counter _returned;
    private readonly Counter _deferred;
    private readonly Counter _refused;

    public Forwarder(ForwardingOptions options, IForwardingRoute route, string hostName, MetricsRegistry metrics, TimeProvider time, ILogger<Forwarder> logger)
    {
        _options = options;
        _route = route;
        _hostName = hostName;
        _time = time;
        _logger = logger;
        Aliases = new AliasTable(options.Aliases);
        Srs = new SrsRewriter(options.SrsSecrets, options.SrsDomain, options.SrsHashLength, options.SrsMaxAge);
        _forwarded = metrics.Counter("mxserver_forwarded_total", "Alias mails forwarded (queued or relayed), per alias.");
        _returned = metrics.Counter("mxserver_srs_returned_total", "Mails to SRS addresses sent back to the original sender.");
        _deferred = metrics.Counter("mxserver_forward_deferred_total", "Forwarding attempts answered with a temporary failure.");
        _refused = metrics.Counter("mxserver_forward_refused_total", "Forwarding attempts refused for good (loops, unknown aliases, bad SRS).");
    }

    public AliasTable Aliases { get; }

    public SrsRewriter Srs { get; }

    /// <summary>Every domain forwarding receives mail for: the alias domains and the SRS domain.</summary>
    public IReadOnlySet<string> Domains => _domains ??= new HashSet<string>(Aliases.Domains.Append(Srs.Domain), StringComparer.OrdinalIgnoreCase);
    private HashSet<string>? _domains;

    public ForwardingTarget Classify(LocalRecipient recipient)
    {
        if (Aliases.TryResolve(recipient.LocalPart, recipient.Domain, out _))
        {
            return ForwardingTarget.Alias;
        }
        if (recipient.Domain.Equals(Srs.Domain, StringComparison.OrdinalIgnoreCase) && SrsRewriter.IsTagged(recipient.LocalPart))
        {
            return Srs.Reverse(recipient.LocalPart + "@" + recipient.Domain, _time.GetUtcNow()).IsValid
                ? ForwardingTarget.SrsReturn
                : ForwardingTarget.BadSrs;
        }
        return Aliases.IsAliasDomain(recipient.Domain) ? ForwardingTarget.Unknown : ForwardingTarget.None;
    }

    /// <summary>Forwards <paramref name="message"/> for those of <paramref name="recipients"/> that are aliases or
    /// SRS addresses (the others are ignored). With none of them, nothing happens.</summary>
    public async ValueTask<ForwardResult> ForwardAsync(string reversePath, IReadOnlyList<LocalRecipient> recipients,
        ReadOnlyMemory<byte> message, ForwardSource source, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var aliases = new List<(string Alias, IReadOnlyList<string> Targets)>();
        var returns = new List<string>();
        foreach (var recipient in recipients)
        {
            var address = recipient.LocalPart + "@" + recipient.Domain;
            if (Aliases.TryResolve(recipient.LocalPart, recipient.Domain, out var targets))
            {
                if (!aliases.Any(a => a.Alias.Equals(address, StringComparison.OrdinalIgnoreCase)))
                {
                    aliases.Add((address.ToLowerInvariant(), targets));
                }
            }
            else if (recipient.Domain.Equals(Srs.Domain, StringComparison.OrdinalIgnoreCase)
                && Srs.Reverse(address, now) is { IsValid: true, Address: { } original }
                && !returns.Contains(original, StringComparer.OrdinalIgnoreCase))
            {
                returns.Add(original);
            }
        }
        if (aliases.Count == 0 && returns.Count == 0)
        {
            return new ForwardResult.Forwarded(0);
        }

        var body = ToCrlf(message);
        if (!MessageHeaders.TryParse(body, out var headers, out var error))
        {
            _refused.Increment();
            return new ForwardResult.Refused(new SmtpReply(554, "5.6.0", "Malformed header: " + error));
        }
        var evidence = LoopEvidence(headers, source.LocalHandoff);
        if (evidence.Received > _options.MaxHops)
        {
            _refused.Increment();
            return new ForwardResult.Refused(new SmtpReply(554, "5.4.6", $"Too many hops ({evidence.Received} Received fields): mail loop?"));
        }

        foreach (var (alias, _) in aliases)
        {
            if (evidence.DeliveredTo.Contains(alias))
            {
                _refused.Increment();
                _logger.LogWarning("Refused mail for {Alias} from <{Sender}>: it was delivered to that alias before (loop)", alias, reversePath);
                return new ForwardResult.Refused(new SmtpReply(554, "5.4.6", $"Mail forwarding loop for {alias}"));
            }
        }

        var copies = OneCopyPerTarget(aliases);
        var outbound = new List<OutboundMessage>(copies.Count + 1);
        var sender = Srs.Forward(reversePath, now);
        foreach (var (alias, targets) in copies)
        {
            // The local MTA's pipe may have written this alias's Delivered-To already.
            var deliveredTo = source.LocalHandoff && evidence.HandoffDeliveredTo.Contains(alias) ? null : alias;
            outbound.Add(new OutboundMessage(sender, targets, Prepend(body, deliveredTo, source, now)));
        }
        if (returns.Count > 0)
        {
            // Back to the original sender with the null sender: a bounce of a bounce must never be made.
            outbound.Add(new OutboundMessage("", returns, Prepend(body, null, source, now)));
        }

        var result = await _route.SendAsync(outbound, cancellationToken).ConfigureAwait(false);
        switch (result)
        {
            case ForwardResult.Forwarded:
                _forwarded.Increment(aliases.Count);
                _returned.Increment(returns.Count);
                _logger.LogInformation("Forwarded mail from <{Sender}> as <{Srs}> for {Count} alias(es): {Copies}{Returns}", reversePath, sender,
                    aliases.Count, string.Join(", ", copies.Select(a => $"{a.Alias} -> {string.Join(" ", a.Targets)}")),
                    returns.Count > 0 ? "; returned to " + string.Join(", ", returns) : "");
                break;
            case ForwardResult.Temporary temporary:
                _deferred.Increment();
                _logger.LogWarning("Forwarding mail from <{Sender}> deferred: {Reason}", reversePath, temporary.Reason);
                break;
            case ForwardResult.Refused refused:
                _refused.Increment();
                _logger.LogWarning("Forwarding mail from <{Sender}> refused by the relay: {Reply}", reversePath, refused.Reply);
                break;
        }
        return result;
    }

    /// <summary>Each distinct target once per transaction, under the first alias that named it. Without this, one
    /// transaction naming thirty addresses of a catch-all would send its target thirty copies (amplification).</summary>
    private static List<(string Alias, IReadOnlyList<string> Targets)> OneCopyPerTarget(List<(string Alias, IReadOnlyList<string> Targets)> aliases)
    {
        var taken = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var copies = new List<(string Alias, IReadOnlyList<string> Targets)>(aliases.Count);
        foreach (var (alias, targets) in aliases)
        {
            var fresh = targets.Where(taken.Add).ToArray();
            if (fresh.Length > 0)
            {
                copies.Add((alias, fresh));
            }
        }
        return copies;
    }

    /// <summary>Counts a recipient refused at RCPT (unknown alias, bad SRS) in the refused metric.</summary>
    public void CountRefusedRecipient() => _refused.Increment();

    private static (int Received, HashSet<string> DeliveredTo, HashSet<string> HandoffDeliveredTo) LoopEvidence(MessageHeaders headers, bool localHandoff)
    {
        var received = 0;
        var deliveredTo = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var handoff = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var aboveFirstReceived = localHandoff;
        foreach (var field in headers.Fields)
        {
            if (field.Name.Equals("Received", StringComparison.OrdinalIgnoreCase))
            {
                received++;
                aboveFirstReceived = false;
            }
            else if (field.Name.Equals("Delivered-To", StringComparison.OrdinalIgnoreCase))
            {
                (aboveFirstReceived ? handoff : deliveredTo).Add(field.Value.Trim().Trim('<', '>'));
            }
        }
        return (received, deliveredTo, handoff);
    }

    /// <summary>Our trace fields above the message: Delivered-To (loop detection, as Postfix and others do) and
    /// Received (RFC 5321 §4.4: a relay must add one).</summary>
    private ReadOnlyMemory<byte> Prepend(ReadOnlyMemory<byte> body, string? deliveredTo, ForwardSource source, DateTimeOffset now)
    {
        var trace = new StringBuilder(256);
        if (deliveredTo is not null)
        {
            trace.Append("Delivered-To: ").Append(deliveredTo).Append("\r\n");
        }
        trace.Append("Received: from ").Append(source.From).Append("\r\n\tby ").Append(_hostName)
            .Append(" (Manycore Mail) with ").Append(source.Protocol).Append(";\r\n\t")
            .Append(now.UtcDateTime.ToString("ddd, dd MMM yyyy HH:mm:ss '+0000'", CultureInfo.InvariantCulture)).Append("\r\n");
        var prefix = Encoding.ASCII.GetBytes(trace.ToString());
        var bytes = new byte[prefix.Length + body.Length];
        prefix.CopyTo(bytes, 0);
        body.Span.CopyTo(bytes.AsSpan(prefix.Length));
        return bytes;
    }

    /// <summary>The queue and the SMTP client want CRLF; a pipe from a local MTA gives LF.</summary>
    private static ReadOnlyMemory<byte> ToCrlf(ReadOnlyMemory<byte> message)
    {
        var length = LineEndings.NormalizedLength(message.Span);
        if (length == message.Length)
        {
            return message;
        }
        var normalized = new byte[length];
        LineEndings.CopyNormalized(message.Span, normalized);
        return normalized;
    }
}
