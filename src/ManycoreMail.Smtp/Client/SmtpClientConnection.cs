using System.Net;

namespace ManycoreMail.Smtp.Client;

/// <summary>The outcome of one mail transaction, per recipient.</summary>
public sealed record SmtpTransactionResult(
    SmtpReply MailFromReply,
    IReadOnlyList<(string Recipient, SmtpReply Reply)> RecipientReplies,
    /// <summary>The reply to the end of DATA, or null when no recipient was accepted (or MAIL was refused).</summary>
    SmtpReply? DataReply);

/// <summary>A failure of the connection or protocol (not a refusal): connect errors, timeouts, a 421,
/// broken TLS, a malformed reply. <see cref="Reply"/> is set when the server said something.</summary>
public sealed class SmtpClientException(string message, SmtpReply? reply = null, Exception? inner = null) : Exception(message, inner)
{
    public SmtpReply? Reply { get; } = reply;
}

/// <summary>One SMTP client connection: greeting, EHLO (HELO fallback), STARTTLS, AUTH, transactions.</summary>
public sealed class SmtpClientConnection : IAsyncDisposable
{
    private SmtpClientConnection() { }

    /// <summary>Connect, read the greeting, EHLO, STARTTLS per options (EHLO again after it).</summary>
    public static Task<SmtpClientConnection> ConnectAsync(IPEndPoint endPoint, SmtpClientOptions options, CancellationToken cancellationToken) =>
        throw new NotImplementedException();

    public IPEndPoint RemoteEndPoint => throw new NotImplementedException();
    public bool IsTls => throw new NotImplementedException();
    /// <summary>EHLO keywords upper-cased, with their parameters (e.g. "SIZE" → "35882577").</summary>
    public IReadOnlyDictionary<string, string> Capabilities => throw new NotImplementedException();

    /// <summary>AUTH PLAIN when offered, else LOGIN.</summary>
    public Task AuthenticateAsync(string user, string password, CancellationToken cancellationToken) => throw new NotImplementedException();

    /// <summary>MAIL, RCPT for each recipient, DATA (only if some RCPT succeeded) with dot-stuffing.
    /// <paramref name="message"/> must use CRLF line ends. Uses PIPELINING when offered.</summary>
    public Task<SmtpTransactionResult> SendAsync(string reversePath, IReadOnlyList<string> recipients, ReadOnlyMemory<byte> message, CancellationToken cancellationToken) =>
        throw new NotImplementedException();

    /// <summary>RSET, to reuse the connection for another transaction.</summary>
    public Task ResetAsync(CancellationToken cancellationToken) => throw new NotImplementedException();

    /// <summary>QUIT politely; never throws.</summary>
    public Task QuitAsync(CancellationToken cancellationToken) => throw new NotImplementedException();

    public ValueTask DisposeAsync() => throw new NotImplementedException();
}
