using System.Text;
using ManycoreMail.Smtp.Internal;

namespace ManycoreMail.Smtp.Server.Grammar;

/// <summary>
/// The esmtp-params of RCPT TO: NOTIFY and ORCPT (RFC 3461 §4.1, §4.2), each at most once, and only where DSN is
/// offered. ORCPT's address is decoded by its type: "utf-8" as RFC 6533's utf-8-addr (xtext with \x{HEX} escapes, and
/// raw UTF-8 only in an SMTPUTF8 transaction), any other type (in practice "rfc822") as RFC 3461 xtext.
/// </summary>
internal static class RcptParameterParser
{
    /// <param name="utf8Transaction">MAIL FROM declared SMTPUTF8, so ORCPT may carry raw UTF-8 (RFC 6533 §3).</param>
    public static ParameterError Parse(ReadOnlySpan<byte> parameters, in ParameterPolicy policy, bool utf8Transaction, out SmtpRecipientParameters result)
    {
        result = default;
        var notify = DsnNotify.Unspecified;
        var notifySeen = false;
        string? originalType = null;
        string? original = null;
        // Bounded by the parameter text: each pass consumes one parameter.
        while (EsmtpParameters.TryNext(ref parameters, out var keyword, out var value, out var hasValue))
        {
            if (policy.Dsn && hasValue && Ascii.EqualsIgnoreCase(keyword, "NOTIFY"u8))
            {
                if (notifySeen || !DsnParameters.TryParseNotify(value, out notify))
                {
                    return ParameterError.BadNotify;
                }

                notifySeen = true;
            }
            else if (policy.Dsn && hasValue && Ascii.EqualsIgnoreCase(keyword, "ORCPT"u8))
            {
                if (original is not null || !TryParseOriginalRecipient(value, utf8Transaction, out originalType, out original))
                {
                    return ParameterError.BadOriginalRecipient;
                }
            }
            else
            {
                return ParameterError.Unsupported;
            }
        }

        result = new SmtpRecipientParameters(notify, originalType, original);
        return ParameterError.None;
    }

    /// <summary>ORCPT=addr-type ";" encoded address (RFC 3461 §4.2, RFC 6533 §3).</summary>
    internal static bool TryParseOriginalRecipient(ReadOnlySpan<byte> value, bool utf8Transaction, out string? type, out string? address)
    {
        type = address = null;
        var semicolon = value.IndexOf((byte)';');
        if (value.Length > DsnParameters.MaxOriginalRecipient || semicolon <= 0)
        {
            return false;
        }

        var typeBytes = value[..semicolon];
        foreach (var b in typeBytes)
        {
            // addr-type is an atom; in practice "rfc822" or "utf-8".
            if (!(char.IsAsciiLetterOrDigit((char)b) || b == (byte)'-'))
            {
                return false;
            }
        }

        var encoded = value[(semicolon + 1)..];
        string decoded;
        if (Ascii.EqualsIgnoreCase(typeBytes, "utf-8"u8))
        {
            if (!DsnParameters.TryDecodeUtf8Address(encoded, utf8Transaction, out decoded))
            {
                return false;
            }

            type = "utf-8";
        }
        else
        {
            if (!DsnParameters.TryDecodeXtext(encoded, out decoded))
            {
                return false;
            }

            type = Ascii.EqualsIgnoreCase(typeBytes, "rfc822"u8) ? "rfc822" : Encoding.ASCII.GetString(typeBytes);
        }

        if (decoded.Length == 0)
        {
            type = null;
            return false;
        }

        address = decoded;
        return true;
    }
}

/// <summary>A recipient's DSN parameters.</summary>
internal readonly record struct SmtpRecipientParameters(DsnNotify Notify, string? OriginalRecipientType, string? OriginalRecipient);
