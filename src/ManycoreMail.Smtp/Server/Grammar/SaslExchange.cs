using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace ManycoreMail.Smtp.Server.Grammar;

/// <summary>What one step of an AUTH exchange comes to.</summary>
internal enum SaslOutcome : byte
{
    /// <summary>"334 " (PLAIN without an initial response).</summary>
    AskResponse,
    /// <summary>"334 VXNlcm5hbWU6" (LOGIN: "Username:").</summary>
    AskUser,
    /// <summary>"334 UGFzc3dvcmQ6" (LOGIN: "Password:").</summary>
    AskPassword,
    /// <summary>The exchange is complete: check <see cref="SaslStep.User"/> and <see cref="SaslStep.Password"/>.</summary>
    Credentials,
    /// <summary>The client answered "*" (RFC 4954 §4).</summary>
    Cancelled,
    /// <summary>Not base64, or not the mechanism's message.</summary>
    Malformed,
    UnknownMechanism,
}

/// <summary>One step; <see cref="User"/> and <see cref="Password"/> are set only with <see cref="SaslOutcome.Credentials"/>
/// (an empty user stands for credentials that can never be right, such as acting for somebody else).</summary>
internal readonly record struct SaslStep(SaslOutcome Outcome, string User = "", string Password = "");

/// <summary>
/// The server side of AUTH PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login) over SMTP (RFC 4954): which
/// response comes next, and the decoding of each. One per session; the session reads response lines while
/// <see cref="InProgress"/>.
/// </summary>
internal sealed class SaslExchange
{
    private State _state;
    private string? _user;

    private enum State : byte
    {
        None,
        PlainResponse,
        LoginUser,
        LoginPassword,
    }

    /// <summary>A response line is expected.</summary>
    public bool InProgress => _state != State.None;

    /// <summary>"AUTH" SP mechanism [SP initial-response].</summary>
    public SaslStep Start(ReadOnlySpan<byte> args)
    {
        Reset();
        var space = args.IndexOf((byte)' ');
        var mechanism = space < 0 ? args : args[..space];
        var initial = space < 0 ? [] : args[(space + 1)..];
        if (Ascii.EqualsIgnoreCase(mechanism, "PLAIN"u8))
        {
            if (initial.IsEmpty)
            {
                _state = State.PlainResponse;
                return new SaslStep(SaslOutcome.AskResponse);
            }

            return DecodePlain(initial);
        }

        if (Ascii.EqualsIgnoreCase(mechanism, "LOGIN"u8))
        {
            if (initial.IsEmpty)
            {
                _state = State.LoginUser;
                return new SaslStep(SaslOutcome.AskUser);
            }

            return AcceptUser(initial);
        }

        return new SaslStep(SaslOutcome.UnknownMechanism);
    }

    /// <summary>The client's response line (its CR LF removed).</summary>
    public SaslStep Respond(ReadOnlySpan<byte> line)
    {
        var state = _state;
        _state = State.None;
        if (line.SequenceEqual("*"u8))
        {
            _user = null;
            return new SaslStep(SaslOutcome.Cancelled);
        }

        switch (state)
        {
            case State.PlainResponse:
                return DecodePlain(line);
            case State.LoginUser:
                return AcceptUser(line);
            case State.LoginPassword:
                var user = _user ?? string.Empty;
                _user = null;
                return TryDecodeBase64(line, out var password)
                    ? new SaslStep(SaslOutcome.Credentials, user, password)
                    : new SaslStep(SaslOutcome.Malformed);
            default:
                throw new InvalidOperationException("No AUTH exchange is in progress.");
        }
    }

    public void Reset()
    {
        _state = State.None;
        _user = null;
    }

    private SaslStep AcceptUser(ReadOnlySpan<byte> base64)
    {
        if (!TryDecodeBase64(base64, out var user))
        {
            return new SaslStep(SaslOutcome.Malformed);
        }

        _user = user;
        _state = State.LoginPassword;
        return new SaslStep(SaslOutcome.AskPassword);
    }

    /// <summary>RFC 4616: [authzid] NUL authcid NUL passwd; "=" is an empty initial response (RFC 4954 §4).</summary>
    private static SaslStep DecodePlain(ReadOnlySpan<byte> base64)
    {
        var decoded = ArrayPool<byte>.Shared.Rent(Base64.GetMaxDecodedFromUtf8Length(base64.Length));
        try
        {
            var length = 0;
            if (!base64.SequenceEqual("="u8)
                && Base64.DecodeFromUtf8(base64, decoded, out _, out length) != OperationStatus.Done)
            {
                return new SaslStep(SaslOutcome.Malformed);
            }

            var message = decoded.AsSpan(0, length);
            var first = message.IndexOf((byte)0);
            var second = first < 0 ? -1 : message[(first + 1)..].IndexOf((byte)0);
            if (second < 0)
            {
                return new SaslStep(SaslOutcome.Malformed);
            }

            var authzid = message[..first];
            var authcid = message.Slice(first + 1, second);
            var password = message[(first + 1 + second + 1)..];
            if (!authzid.IsEmpty && !authzid.SequenceEqual(authcid))
            {
                // Acting as somebody else is not supported: the same answer as bad credentials.
                return new SaslStep(SaslOutcome.Credentials);
            }

            return new SaslStep(SaslOutcome.Credentials, Encoding.UTF8.GetString(authcid), Encoding.UTF8.GetString(password));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(decoded, clearArray: true);
        }
    }

    private static bool TryDecodeBase64(ReadOnlySpan<byte> base64, out string value)
    {
        var decoded = ArrayPool<byte>.Shared.Rent(Base64.GetMaxDecodedFromUtf8Length(base64.Length));
        try
        {
            if (Base64.DecodeFromUtf8(base64, decoded, out _, out var length) != OperationStatus.Done)
            {
                value = string.Empty;
                return false;
            }

            value = Encoding.UTF8.GetString(decoded, 0, length);
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(decoded, clearArray: true);
        }
    }
}
