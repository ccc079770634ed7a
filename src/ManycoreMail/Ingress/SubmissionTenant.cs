using System.Text;
using ManycoreMail.Delivery;
using ManycoreMail.Mime;

namespace ManycoreMail.Ingress;

/// <summary>
/// The tenant and campaign of a raw submission (SMTP or <c>/v1/mail/send</c>): X-Tenant, X-Stream-Id and X-Campaign
/// are checked at the door, since they become queue names later; the login's tenant (<see cref="TenantClaim"/>) is
/// enforced, and written into the message as X-Tenant when the message names none, because the transformer reads the
/// tenant from there.
/// </summary>
internal static class SubmissionTenant
{
    // X-Stream-Id is the original system's and was never checked (any value reached Feedback-ID), so it is not refused
    // here: the sender makes it safe for a queue name (ScheduledQueueName). X-Campaign is ours and held to the rule.
    private static readonly string[] CampaignHeaders = ["X-Campaign"];

    /// <summary>The message to queue: <paramref name="message"/> itself, or with an X-Tenant line put in front of it
    /// (the rest is not touched, so nothing is re-serialised and <paramref name="headers"/> still describe every other
    /// field of it).</summary>
    /// <param name="headers">The message's header block, as the ingress rules parsed it.</param>
    /// <param name="loginTenant">The tenant of the login the message came through; null for a login without one or a
    /// trusted client that did not log in (its X-Tenant is kept as given).</param>
    /// <param name="tenant">The tenant the message is sent for (the one its X-Tenant names once queued); null for none.</param>
    public static bool TryApply(ReadOnlyMemory<byte> message, MessageHeaders headers, string? loginTenant, out ReadOnlyMemory<byte> queued,
        out string? tenant, out IngressRefusal refusal)
    {
        ArgumentNullException.ThrowIfNull(headers);
        queued = message;
        tenant = null;
        if (!TryReadClaim(headers, out var claimed, out refusal) || !TryCheckCampaign(headers, out refusal))
        {
            return false;
        }
        if (!TenantClaim.TryResolve(loginTenant, claimed, out tenant, out refusal))
        {
            return false;
        }
        if (claimed is null && tenant is not null)
        {
            queued = Prepend(message, tenant);
        }
        return true;
    }

    /// <summary>The X-Tenant the message names (null when none or empty); every occurrence must be well formed and agree.</summary>
    private static bool TryReadClaim(MessageHeaders headers, out string? claimed, out IngressRefusal refusal)
    {
        claimed = null;
        refusal = null!;
        foreach (var field in headers.All("X-Tenant"))
        {
            if (field.Value.Length == 0)
            {
                continue;
            }
            if (!QueueNamePart.IsValid(field.Value))
            {
                refusal = Malformed("X-Tenant");
                return false;
            }
            if (claimed is not null && !string.Equals(claimed, field.Value, StringComparison.Ordinal))
            {
                refusal = new IngressRefusal("Conflicting X-Tenant headers");
                return false;
            }
            claimed = field.Value;
        }
        return true;
    }

    /// <summary>The campaign headers as the transformer reads them (the first of each; empty counts as absent).</summary>
    private static bool TryCheckCampaign(MessageHeaders headers, out IngressRefusal refusal)
    {
        refusal = null!;
        foreach (var name in CampaignHeaders)
        {
            if (headers.First(name) is { Length: > 0 } value && !QueueNamePart.IsValid(value))
            {
                refusal = Malformed(name);
                return false;
            }
        }
        return true;
    }

    private static IngressRefusal Malformed(string header) =>
        new($"Malformed header {header}, expecting {QueueNamePart.Rule}");

    /// <summary>The message with <c>X-Tenant: tenant</c> in front, ended as the message's own first line is (so a
    /// message with bare LF line ends stays consistent).</summary>
    private static byte[] Prepend(ReadOnlyMemory<byte> message, string tenant)
    {
        var span = message.Span;
        var firstLineEnd = span.IndexOf((byte)'\n');
        var lineEnd = firstLineEnd > 0 && span[firstLineEnd - 1] == '\r' ? "\r\n" : firstLineEnd >= 0 ? "\n" : "\r\n";
        // The tenant is checked ASCII (QueueNamePart), so one byte per character.
        var line = Encoding.ASCII.GetBytes("X-Tenant: " + tenant + lineEnd);
        var joined = GC.AllocateUninitializedArray<byte>(line.Length + span.Length);
        line.CopyTo(joined, 0);
        span.CopyTo(joined.AsSpan(line.Length));
        return joined;
    }
}
