using System.Buffers.Text;
using System.Text;
using ManycoreMail.Smtp.Internal;

namespace ManycoreMail.Smtp.Server.Grammar;

/// <summary>What a listener offers, as far as the MAIL and RCPT parameters are concerned.</summary>
/// <param name="Smtputf8">SMTPUTF8 is offered (RFC 6531).</param>
/// <param name="Dsn">DSN is offered (RFC 3461): RET, ENVID, NOTIFY, ORCPT.</param>
/// <param name="Auth">AUTH is offered (RFC 4954 §5: AUTH= on MAIL).</param>
/// <param name="MaxMessageSize">The SIZE limit (RFC 1870).</param>
internal readonly record struct ParameterPolicy(bool Smtputf8, bool Dsn, bool Auth, long MaxMessageSize);

/// <summary>Why a MAIL or RCPT parameter list was refused; each has one reply (<see cref="ParameterReplies"/>).</summary>
internal enum ParameterError : byte
{
    None,
    Unsupported,
    Duplicate,
    Syntax,
    BadSize,
    /// <summary>SIZE over the limit: a refusal of the message, not a protocol error.</summary>
    TooLarge,
    BadBody,
    BadReturn,
    BadEnvelopeId,
    BadNotify,
    BadOriginalRecipient,
}

/// <summary>The reply to each <see cref="ParameterError"/>.</summary>
internal static class ParameterReplies
{
    public static ReadOnlySpan<byte> For(ParameterError error, bool rcpt) => error switch
    {
        ParameterError.Unsupported => rcpt ? "555 5.5.4 Unsupported RCPT parameter\r\n"u8 : "555 5.5.4 Unsupported MAIL parameter\r\n"u8,
        ParameterError.Duplicate => "501 5.5.4 Duplicate MAIL parameter\r\n"u8,
        ParameterError.Syntax => "501 5.5.4 Bad MAIL parameter syntax\r\n"u8,
        ParameterError.BadSize => "501 5.5.4 Bad SIZE parameter\r\n"u8,
        ParameterError.TooLarge => "552 5.3.4 Message size exceeds fixed maximum message size\r\n"u8,
        ParameterError.BadBody => "501 5.5.4 Unsupported BODY type\r\n"u8,
        ParameterError.BadReturn => "501 5.5.4 Bad RET parameter\r\n"u8,
        ParameterError.BadEnvelopeId => "501 5.5.4 Bad ENVID parameter\r\n"u8,
        ParameterError.BadNotify => "501 5.5.4 Bad NOTIFY parameter\r\n"u8,
        ParameterError.BadOriginalRecipient => "501 5.5.4 Bad ORCPT parameter\r\n"u8,
        _ => throw new ArgumentOutOfRangeException(nameof(error)),
    };
}

/// <summary>
/// The esmtp-params of MAIL FROM (RFC 5321 §4.1.2): SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531),
/// RET and ENVID (RFC 3461), AUTH (RFC 4954, accepted and ignored). Keywords are case-insensitive, each at most once;
/// a keyword the listener does not offer is unsupported. Parsed from the command's bytes without allocating, but for
/// the ENVID string and the result.
/// </summary>
internal static class MailParameterParser
{
    [Flags]
    private enum Keyword : byte
    {
        None = 0,
        Size = 1,
        Body = 2,
        Smtputf8 = 4,
        Return = 8,
        EnvelopeId = 16,
        Auth = 32,
    }

    public static ParameterError Parse(ReadOnlySpan<byte> parameters, in ParameterPolicy policy, out SmtpMailParameters mail)
    {
        mail = SmtpMailParameters.None;
        var seen = Keyword.None;
        // Bounded by the parameter text: each pass consumes one parameter.
        while (EsmtpParameters.TryNext(ref parameters, out var keyword, out var value, out var hasValue))
        {
            var kind = KeywordOf(keyword, policy);
            if (kind == Keyword.None)
            {
                return ParameterError.Unsupported;
            }

            if ((seen & kind) != 0)
            {
                return ParameterError.Duplicate;
            }

            seen |= kind;
            // SMTPUTF8 takes no value; every other parameter needs one.
            if ((kind == Keyword.Smtputf8) == hasValue || (hasValue && value.IsEmpty))
            {
                return ParameterError.Syntax;
            }

            var error = Apply(kind, value, policy, ref mail);
            if (error != ParameterError.None)
            {
                return error;
            }
        }

        return ParameterError.None;
    }

    private static ParameterError Apply(Keyword kind, ReadOnlySpan<byte> value, in ParameterPolicy policy, ref SmtpMailParameters mail)
    {
        switch (kind)
        {
            case Keyword.Size:
                if (!Utf8Parser.TryParse(value, out long declared, out var used) || used != value.Length || declared < 0)
                {
                    return ParameterError.BadSize;
                }

                if (declared > policy.MaxMessageSize)
                {
                    return ParameterError.TooLarge;
                }

                mail = mail with { DeclaredSize = declared };
                return ParameterError.None;
            case Keyword.Body:
                if (Ascii.EqualsIgnoreCase(value, "7BIT"u8))
                {
                    mail = mail with { Body = SmtpBodyType.SevenBit };
                }
                else if (Ascii.EqualsIgnoreCase(value, "8BITMIME"u8))
                {
                    mail = mail with { Body = SmtpBodyType.EightBitMime };
                }
                else
                {
                    return ParameterError.BadBody;
                }

                return ParameterError.None;
            case Keyword.Smtputf8:
                mail = mail with { Utf8 = true };
                return ParameterError.None;
            case Keyword.Return:
                if (Ascii.EqualsIgnoreCase(value, "FULL"u8))
                {
                    mail = mail with { Return = DsnReturn.Full };
                }
                else if (Ascii.EqualsIgnoreCase(value, "HDRS"u8))
                {
                    mail = mail with { Return = DsnReturn.Headers };
                }
                else
                {
                    return ParameterError.BadReturn;
                }

                return ParameterError.None;
            case Keyword.EnvelopeId:
                if (value.Length > DsnParameters.MaxEnvelopeId || !DsnParameters.TryDecodeXtext(value, out var envelopeId))
                {
                    return ParameterError.BadEnvelopeId;
                }

                mail = mail with { EnvelopeId = envelopeId };
                return ParameterError.None;
            default:
                // AUTH=: RFC 4954 §5 lets a server ignore it; we never relay on its word.
                return ParameterError.None;
        }
    }

    private static Keyword KeywordOf(ReadOnlySpan<byte> keyword, in ParameterPolicy policy)
    {
        if (Ascii.EqualsIgnoreCase(keyword, "SIZE"u8)) return Keyword.Size;
        if (Ascii.EqualsIgnoreCase(keyword, "BODY"u8)) return Keyword.Body;
        if (Ascii.EqualsIgnoreCase(keyword, "SMTPUTF8"u8) && policy.Smtputf8) return Keyword.Smtputf8;
        if (Ascii.EqualsIgnoreCase(keyword, "RET"u8) && policy.Dsn) return Keyword.Return;
        if (Ascii.EqualsIgnoreCase(keyword, "ENVID"u8) && policy.Dsn) return Keyword.EnvelopeId;
        if (Ascii.EqualsIgnoreCase(keyword, "AUTH"u8) && policy.Auth) return Keyword.Auth;
        return Keyword.None;
    }
}

/// <summary>Splits esmtp-params (RFC 5321 §4.1.2): parameters separated by spaces, each keyword ["=" value].</summary>
internal static class EsmtpParameters
{
    public static bool TryNext(ref ReadOnlySpan<byte> parameters, out ReadOnlySpan<byte> keyword, out ReadOnlySpan<byte> value, out bool hasValue)
    {
        if (parameters.IsEmpty)
        {
            keyword = value = default;
            hasValue = false;
            return false;
        }

        var space = parameters.IndexOf((byte)' ');
        var parameter = space < 0 ? parameters : parameters[..space];
        parameters = space < 0 ? [] : parameters[(space + 1)..].TrimStart((byte)' ');
        var equals = parameter.IndexOf((byte)'=');
        hasValue = equals >= 0;
        keyword = equals < 0 ? parameter : parameter[..equals];
        value = equals < 0 ? [] : parameter[(equals + 1)..];
        return true;
    }
}
