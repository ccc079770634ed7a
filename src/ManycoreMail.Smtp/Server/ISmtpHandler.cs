using System.Buffers;
using System.Net;

namespace ManycoreMail.Smtp.Server;

/// <summary>What the host decides; the server owns only the protocol.</summary>
public interface ISmtpHandler
{
    /// <summary>Check credentials. Called only where AUTH is allowed.</summary>
    ValueTask<bool> AuthenticateAsync(SmtpSessionInfo session, string user, string password, CancellationToken cancellationToken);

    /// <summary>Accept or refuse a reverse-path ("" for the null sender &lt;&gt;).</summary>
    ValueTask<SmtpReply> MailFromAsync(SmtpSessionInfo session, string reversePath, CancellationToken cancellationToken);

    /// <summary>Accept or refuse one recipient.</summary>
    ValueTask<SmtpReply> RcptToAsync(SmtpSessionInfo session, string reversePath, string forwardPath, CancellationToken cancellationToken);

    /// <summary>A complete message (dot-unstuffed, CRLF line ends). The reply is what the client hears:
    /// reply 250 only once the message is durable.</summary>
    ValueTask<SmtpReply> MessageAsync(SmtpSessionInfo session, SmtpEnvelope envelope, ReadOnlySequence<byte> message, CancellationToken cancellationToken);
}

/// <summary>What is known about the session when the handler is asked.</summary>
public sealed class SmtpSessionInfo
{
    public required IPEndPoint RemoteEndPoint { get; init; }
    public required IPEndPoint LocalEndPoint { get; init; }
    public bool IsTrusted { get; internal set; }
    public bool IsTls { get; internal set; }
    public string? HeloName { get; internal set; }
    public string? AuthenticatedUser { get; internal set; }

    /// <summary>The load balancer the connection came through when the listener speaks the PROXY protocol;
    /// <see cref="RemoteEndPoint"/> is then the real client the proxy reported.</summary>
    public IPEndPoint? ProxyEndPoint { get; init; }
}

/// <summary>A transaction as the client declared it. <see cref="Recipients"/> holds the accepted forward
/// paths; <see cref="RecipientDetails"/> the same recipients, in the same order, with their DSN parameters.</summary>
public sealed record SmtpEnvelope(string ReversePath, IReadOnlyList<string> Recipients)
{
    /// <summary>What MAIL FROM declared besides the reverse-path.</summary>
    public SmtpMailParameters Mail { get; init; } = SmtpMailParameters.None;

    /// <summary>One entry per <see cref="Recipients"/> entry.</summary>
    public IReadOnlyList<SmtpRecipient> RecipientDetails { get; init; } = [];

    /// <summary>True when the message came in BDAT chunks (RFC 3030) rather than DATA.</summary>
    public bool Chunked { get; init; }
}

/// <summary>BODY= of MAIL FROM (RFC 6152).</summary>
public enum SmtpBodyType : byte
{
    Unspecified,
    SevenBit,
    EightBitMime,
}

/// <summary>RET= of MAIL FROM (RFC 3461 §4.3): what a DSN should carry of the message.</summary>
public enum DsnReturn : byte
{
    Unspecified,
    Full,
    Headers,
}

/// <summary>NOTIFY= of RCPT TO (RFC 3461 §4.1). <see cref="Unspecified"/> leaves the choice to us
/// (conventionally FAILURE, and DELAY at our discretion); <see cref="Never"/> excludes every other value.</summary>
[Flags]
public enum DsnNotify : byte
{
    Unspecified = 0,
    Never = 1,
    Success = 2,
    Failure = 4,
    Delay = 8,
}

/// <summary>The MAIL FROM parameters we implement (SIZE, BODY, SMTPUTF8, RET, ENVID).</summary>
public sealed record SmtpMailParameters
{
    public static SmtpMailParameters None { get; } = new();

    public SmtpBodyType Body { get; init; }

    /// <summary>SMTPUTF8 was given (RFC 6531): addresses and headers may be UTF-8.</summary>
    public bool Utf8 { get; init; }

    /// <summary>SIZE= as declared (RFC 1870), if given.</summary>
    public long? DeclaredSize { get; init; }

    public DsnReturn Return { get; init; }

    /// <summary>ENVID= (RFC 3461 §4.4), xtext-decoded.</summary>
    public string? EnvelopeId { get; init; }
}

/// <summary>One accepted recipient with its DSN parameters.</summary>
/// <param name="Address">The forward path (its domain in ASCII, IDNs as A-labels).</param>
/// <param name="Notify">NOTIFY= (RFC 3461 §4.1).</param>
/// <param name="OriginalRecipientType">The addr-type of ORCPT= (e.g. "rfc822"), if given.</param>
/// <param name="OriginalRecipient">The address of ORCPT=, xtext-decoded, if given.</param>
public sealed record SmtpRecipient(string Address, DsnNotify Notify = DsnNotify.Unspecified,
    string? OriginalRecipientType = null, string? OriginalRecipient = null);
