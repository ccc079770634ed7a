using System.Text;
using ManycoreMail.Mime;
using ManycoreMail.Smtp;

namespace ManycoreMail.Ingress;

/// <summary>
/// Every recipient must be one the sender can write in SMTP (<see cref="SmtpMailbox"/>): printable ASCII, a local
/// part of at most 64 characters, a host name or address literal as domain. Quoted local parts such as
/// <c>"x&gt;y"@example.net</c> pass (the sender writes them quoted); an address SMTP cannot carry is refused here,
/// naming it, rather than accepted and then left without an outcome.
/// </summary>
internal static class RecipientAddressRule
{
    /// <summary>A refusal (SMTP 550 5.1.3) naming the first recipient that cannot be written, or null.</summary>
    public static IngressRefusal? Check(IReadOnlyList<MailboxAddress> recipients)
    {
        foreach (var recipient in recipients)
        {
            if (!SmtpMailbox.TryFormat(recipient.Address, out _, out var problem))
            {
                return new IngressRefusal($"Recipient address {Printable(recipient.Address)} cannot be delivered: {problem}", 550, "5.1.3");
            }
        }
        return null;
    }

    /// <summary>The address quoted, with every character outside printable ASCII as \uXXXX: the refusal goes into an SMTP
    /// reply line and a log line, where a raw CR or LF would end the line.</summary>
    private static string Printable(string address)
    {
        var builder = new StringBuilder(address.Length + 2).Append('\'');
        foreach (var c in address)
        {
            if (c is >= ' ' and <= '~')
            {
                builder.Append(c);
            }
            else
            {
                builder.Append(@"\u").Append(((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        return builder.Append('\'').ToString();
    }
}
