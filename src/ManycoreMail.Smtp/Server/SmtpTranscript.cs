using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Smtp.Server;

/// <summary>
/// <c>MAILER_LOG_LEVEL=trace</c>: the session's transcript, one Trace entry per command line the client sent and per
/// reply line the server wrote; for the client connection, each command sent and reply read. Message content never passes here (DATA and BDAT payloads are decoded elsewhere),
/// and credentials are cut: an AUTH command keeps only its mechanism, and the client's answers to AUTH challenges are
/// not shown at all.
/// </summary>
internal static partial class SmtpTranscript
{
    private const int MaxShown = 512;

    public static bool Enabled(ILogger logger) => logger.IsEnabled(LogLevel.Trace);

    /// <param name="authResponse">The line answers an AUTH challenge: it holds credentials.</param>
    public static void Command(ILogger logger, IPEndPoint remote, ReadOnlySpan<byte> line, bool authResponse)
    {
        if (!Enabled(logger))
        {
            return;
        }
        ClientLine(logger, remote, authResponse ? "<authentication response hidden>" : Redact(Shown(line)));
    }

    /// <summary>Logs each line of what the server is about to send.</summary>
    public static void Replies(ILogger logger, IPEndPoint remote, ReadOnlySpan<byte> written)
    {
        foreach (var line in Shown(written).Split("\r\n", StringSplitOptions.RemoveEmptyEntries))
        {
            ServerLine(logger, remote, line);
        }
    }

    /// <summary>AUTH's initial response (and anything after the mechanism) is a credential.</summary>
    private static string Redact(string line)
    {
        if (!line.StartsWith("AUTH ", StringComparison.OrdinalIgnoreCase))
        {
            return line;
        }
        var parts = line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
        return parts.Length > 2 ? $"{parts[0]} {parts[1]} <hidden>" : line;
    }

    private static string Shown(ReadOnlySpan<byte> bytes)
    {
        var text = Encoding.Latin1.GetString(bytes.Length > MaxShown ? bytes[..MaxShown] : bytes);
        return bytes.Length > MaxShown ? text + "..." : text;
    }

    /// <summary>The client side: a command this mailer sent (as <see cref="Client.SmtpClientConnection"/> wrote it).</summary>
    /// <param name="verb">The command up to its argument; an empty verb is an answer to an AUTH challenge.</param>
    public static void Sent(ILogger logger, IPEndPoint remote, ReadOnlySpan<byte> verb, string? argument)
    {
        if (!Enabled(logger))
        {
            return;
        }
        var shown = verb.IsEmpty ? "<authentication response hidden>"
            : verb.StartsWith("AUTH"u8) ? Shown(verb).TrimEnd() + (argument is null ? "" : " <hidden>")
            : Shown(verb) + argument;
        ClientSent(logger, remote, shown);
    }

    /// <summary>The client side: a reply this mailer read.</summary>
    public static void Received(ILogger logger, IPEndPoint remote, SmtpReply reply)
    {
        if (Enabled(logger))
        {
            ClientReceived(logger, remote, reply.ToString());
        }
    }

    [LoggerMessage(102, LogLevel.Trace, "SMTP to {Remote} > {Line}")]
    private static partial void ClientSent(ILogger logger, IPEndPoint remote, string line);

    [LoggerMessage(103, LogLevel.Trace, "SMTP to {Remote} < {Line}")]
    private static partial void ClientReceived(ILogger logger, IPEndPoint remote, string line);

    [LoggerMessage(100, LogLevel.Trace, "SMTP {Remote} C: {Line}")]
    private static partial void ClientLine(ILogger logger, IPEndPoint remote, string line);

    [LoggerMessage(101, LogLevel.Trace, "SMTP {Remote} S: {Line}")]
    private static partial void ServerLine(ILogger logger, IPEndPoint remote, string line);
}

/// <summary>The server's side of the transport, logging what is written to it as <see cref="SmtpTranscript"/> replies.
/// Only the session's reply writer goes through it, so it only ever sees replies.</summary>
internal sealed class ReplyTranscriptStream(Stream inner, ILogger logger, IPEndPoint remote) : Stream
{
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        SmtpTranscript.Replies(logger, remote, buffer);
        inner.Write(buffer);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        SmtpTranscript.Replies(logger, remote, buffer.Span);
        return inner.WriteAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush() => inner.Flush();
    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
