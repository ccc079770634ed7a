using System.Globalization;

namespace ManycoreMail.Ingress;

/// <summary>
/// The cap on the recipients one submitted message may name in its To, Cc and Bcc headers
/// (<c>receiver/max-header-recipients</c>, <c>httpreceiver/max-header-recipients</c>). Each named address becomes a
/// delivery, so without a cap one small submission could make the sender fan out to any number of mailboxes.
/// Distinct addresses after parsing are counted (an address named twice is delivered once), as
/// <see cref="IngressRules"/> counts them.
/// </summary>
internal static class HeaderRecipientLimit
{
    public const int Default = 1000;

    /// <summary>True when <paramref name="message"/> names at most <paramref name="limit"/> recipients; otherwise
    /// <paramref name="refusal"/> names the count and the limit.</summary>
    public static bool Allows(IngressMessage message, int limit, out string refusal)
    {
        if (message.RecipientCount <= limit)
        {
            refusal = "";
            return true;
        }
        refusal = string.Create(CultureInfo.InvariantCulture,
            $"Too many recipients: the message names {message.RecipientCount} addresses in To, Cc and Bcc, at most {limit} are allowed");
        return false;
    }
}
