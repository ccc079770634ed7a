using System.Net;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Smtp.Server;

internal static partial class SmtpSessionLog
{
    [LoggerMessage(1, LogLevel.Debug, "SMTP session from {Remote} ended: {Reason}")]
    public static partial void SessionEnded(ILogger logger, IPEndPoint remote, string reason);

    [LoggerMessage(2, LogLevel.Debug, "SMTP session from {Remote} ended by an I/O error")]
    public static partial void SessionIoError(ILogger logger, IPEndPoint remote, Exception exception);

    [LoggerMessage(3, LogLevel.Error, "SMTP session from {Remote} failed")]
    public static partial void SessionFailed(ILogger logger, IPEndPoint remote, Exception exception);

    [LoggerMessage(4, LogLevel.Error, "SMTP handler failed in {Stage} for {Remote}")]
    public static partial void HandlerFailed(ILogger logger, string stage, IPEndPoint remote, Exception exception);

    [LoggerMessage(5, LogLevel.Error, "SMTP handler returned an invalid reply code {Code} in {Stage}")]
    public static partial void HandlerInvalidReply(ILogger logger, int code, string stage);

    [LoggerMessage(6, LogLevel.Debug, "TLS handshake with {Remote} failed")]
    public static partial void TlsFailed(ILogger logger, IPEndPoint remote, Exception exception);

    [LoggerMessage(7, LogLevel.Information, "Authentication failed for {Remote} (failure {Failures} of this session)")]
    public static partial void AuthFailed(ILogger logger, IPEndPoint remote, int failures);

    [LoggerMessage(8, LogLevel.Warning, "SMTP accept failed")]
    public static partial void AcceptFailed(ILogger logger, Exception exception);

    [LoggerMessage(9, LogLevel.Information, "SMTP server listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, IPEndPoint endPoint);

    [LoggerMessage(10, LogLevel.Warning, "SMTP connection from {Peer} closed: it is not in proxy-protocol-from, so its PROXY header would not be believed")]
    public static partial void ProxyPeerRefused(ILogger logger, IPEndPoint peer);

    [LoggerMessage(11, LogLevel.Information, "SMTP session from {Remote} closed with 421 4.4.2: {Reason}")]
    public static partial void LimitReached(ILogger logger, IPEndPoint remote, string reason);
}
