using ManycoreMail.Classification;
using ManycoreMail.Suppression;

namespace ManycoreMail.AutoSuppression;

/// <summary>
/// Which reports suppress an address by themselves (issue 12), the same for the sender's synchronous bounces and the
/// MX server's DSNs and ARF reports: a hard bounce whose class says the address or its domain does not exist, and a
/// spam complaint, each for every sender (global). Whether such an entry is kept at all is <c>suppression/auto</c>'s
/// business (<see cref="SuppressionWriter"/>).
/// </summary>
internal static class AutomaticEntries
{
    /// <summary>True for the bounce classes (sisimai's names) that mean the address will never take mail: a mailbox
    /// full or a spam block passes, a user or host that does not exist does not.</summary>
    public static bool SuppressesBounce(string? reportClass) =>
        reportClass is BounceReasons.UserUnknown or BounceReasons.HostUnknown;

    /// <summary>A global bounce entry for <paramref name="email"/>, or null when the bounce is not final (a soft bounce, a
    /// delay), its class does not suppress, or the address is not one.</summary>
    /// <param name="type">The bounce event's type: hard and unroutable are final.</param>
    public static SuppressionEntry? ForBounce(string? email, string type, string? reportClass, DateTimeOffset now) =>
        type is BounceTypes.Hard or BounceTypes.Unroutable && SuppressesBounce(reportClass) ? Global(email, SuppressionReason.Bounce, now) : null;

    /// <summary>A global complaint entry for the address a feedback report names, or null when it names none or the report
    /// is no complaint of the recipient's (RFC 5965 <c>auth-failure</c> is about authentication, <c>not-spam</c> the opposite).</summary>
    public static SuppressionEntry? ForComplaint(string? email, string? feedbackType, DateTimeOffset now) =>
        feedbackType?.Trim().ToLowerInvariant() is "auth-failure" or "not-spam" ? null : Global(email, SuppressionReason.Complaint, now);

    private static SuppressionEntry? Global(string? email, SuppressionReason reason, DateTimeOffset now) =>
        SuppressionNames.TryNormalizeEmail(email, out var address)
            ? SuppressionEntry.Create(address, SuppressionScope.Global, null, reason, now)
            : null;
}
