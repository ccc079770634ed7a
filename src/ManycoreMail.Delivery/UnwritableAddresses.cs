using ManycoreMail.Smtp;

namespace ManycoreMail.Delivery;

/// <summary>
/// Recipients SMTP cannot carry (<see cref="SmtpMailbox"/>: control characters, non-ASCII, over-long) bounce before
/// any connection is made. Such an address is a fact about the message, not about the site: trying again can only
/// fail again, and letting the client refuse it on the wire would cost the other recipients their transaction.
/// </summary>
internal static class UnwritableAddresses
{
    /// <summary>A hard bounce for each recipient that cannot be written; for all of them when the return path cannot be.</summary>
    public static IReadOnlyList<RecipientOutcome.Bounced> Bounces(string reversePath, IReadOnlyList<string> recipients)
    {
        if (reversePath.Length > 0 && !SmtpMailbox.TryFormat(reversePath, out _, out var pathProblem))
        {
            var reason = $"the return path '{reversePath}' cannot be written in SMTP: {pathProblem}";
            return recipients.Select(r => Bounce(r, reason)).ToArray();
        }
        List<RecipientOutcome.Bounced>? bounces = null;
        foreach (var recipient in recipients)
        {
            if (!SmtpMailbox.TryFormat(recipient, out _, out var problem))
            {
                (bounces ??= []).Add(Bounce(recipient, $"the address cannot be written in SMTP: {problem}"));
            }
        }
        return bounces ?? (IReadOnlyList<RecipientOutcome.Bounced>)[];
    }

    private static RecipientOutcome.Bounced Bounce(string recipient, string reason) =>
        new(recipient, "hard", reason, null, BounceClass.InvalidRecipient);
}
