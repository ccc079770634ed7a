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
}

public sealed record SmtpEnvelope(string ReversePath, IReadOnlyList<string> Recipients);
