using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using ManycoreMail.Smtp.Internal;
using ManycoreMail.Smtp.Server;

namespace ManycoreMail.Smtp.Client;

/// <summary>The outcome of one mail transaction, per recipient.</summary>
/// <param name="MailFromReply">The reply to MAIL FROM.</param>
/// <param name="RecipientReplies">One reply per recipient, in order. When MAIL was refused, every
/// recipient carries the MAIL reply (so a temporary MAIL failure never reads as a permanent RCPT one).</param>
/// <param name="DataReply">The reply to the end of DATA (or to DATA itself when it was refused), or null
/// when no recipient was accepted (or MAIL was refused).</param>
public sealed record SmtpTransactionResult(
    SmtpReply MailFromReply,
    IReadOnlyList<(string Recipient, SmtpReply Reply)> RecipientReplies,
    SmtpReply? DataReply);

/// <summary>A failure of the connection or protocol (not a refusal): connect errors, timeouts, a 421,
/// broken TLS, a malformed reply. <see cref="Reply"/> is set when the server said something.</summary>
public class SmtpClientException(string message, SmtpReply? reply = null, Exception? inner = null) : Exception(message, inner)
{
    public SmtpReply? Reply { get; } = reply;
}

/// <summary>TLS was required (<see cref="SmtpTlsMode.Required"/>) and the server did not offer STARTTLS, or refused it
/// (then <see cref="SmtpClientException.Reply"/> is its answer): nothing was sent in plain text. A transport security
/// policy (MTA-STS, DANE) tells this apart from other failures by type.</summary>
public sealed class SmtpStartTlsException(string message, SmtpReply? reply = null) : SmtpClientException(message, reply);

/// <summary>An address that cannot be written in SMTP (see <see cref="SmtpMailbox"/>): nothing was sent, and the
/// connection is still usable. A fact about the address, so trying again cannot help.</summary>
public sealed class SmtpAddressException(string address, string problem)
    : ArgumentException($"The address '{address}' cannot be written in SMTP: {problem}.")
{
    public string Address { get; } = address;
    public string Problem { get; } = problem;
}

/// <summary>One SMTP client connection: greeting, EHLO (HELO fallback), STARTTLS, AUTH, transactions.</summary>
/// <remarks>Not thread-safe: one operation at a time. After an <see cref="SmtpClientException"/> the
/// connection is unusable (every later call throws) except for <see cref="QuitAsync"/> and disposal.</remarks>
public sealed class SmtpClientConnection : IAsyncDisposable
{
    /// <summary>Body bytes buffered before each flush while sending DATA.</summary>
    private const int BodyChunkSize = 64 * 1024;

    private static readonly IReadOnlyDictionary<string, string> NoCapabilities = new Dictionary<string, string>();

    private readonly Socket _socket;
    private readonly SmtpClientOptions _options;
    private readonly SmtpReplyParser _parser = new();
    private readonly OperationDeadline _deadline = new();
    private Stream _stream;
    private PipeReader _reader;
    private PipeWriter _writer;
    private IReadOnlyDictionary<string, string> _capabilities = NoCapabilities;
    private bool _broken;
    private bool _disposed;

    private SmtpClientConnection(Socket socket, SmtpClientOptions options, IPEndPoint remoteEndPoint)
    {
        _socket = socket;
        _options = options;
        RemoteEndPoint = remoteEndPoint;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = CreateReader(_stream);
        _writer = CreateWriter(_stream);
    }

    /// <summary>Connect, read the greeting, EHLO, STARTTLS per options (EHLO again after it).</summary>
    public static async Task<SmtpClientConnection> ConnectAsync(IPEndPoint endPoint, SmtpClientOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.HeloName);

        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (options.SourceAddress is { } source)
            {
                socket.Bind(new IPEndPoint(source, 0));
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.ConnectTimeout);
            await socket.ConnectAsync(endPoint, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new SmtpClientException($"Connecting to {endPoint} timed out");
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new SmtpClientException($"Cannot connect to {endPoint}: {e.SocketErrorCode}", null, e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var connection = new SmtpClientConnection(socket, options, endPoint);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public IPEndPoint RemoteEndPoint { get; }

    public bool IsTls { get; private set; }

    /// <summary>EHLO keywords upper-cased, with their parameters (e.g. "SIZE" → "35882577").</summary>
    public IReadOnlyDictionary<string, string> Capabilities => _capabilities;

    /// <summary>The server's greeting.</summary>
    public SmtpReply Greeting { get; private set; }

    /// <summary>True when the server answered EHLO (false after a HELO fallback).</summary>
    public bool IsExtended { get; private set; }

    private async Task OpenAsync(CancellationToken cancellationToken)
    {
        if (_options.TlsMode == SmtpTlsMode.Implicit)
        {
            await HandshakeAsync(cancellationToken).ConfigureAwait(false);
        }

        Greeting = await ReadReplyAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (Greeting.Code != 220)
        {
            throw Fail($"{RemoteEndPoint} refused the session: {Greeting}", Greeting);
        }

        await HelloAsync(cancellationToken).ConfigureAwait(false);
        if (_options.TlsMode is not (SmtpTlsMode.Opportunistic or SmtpTlsMode.Required) || IsTls)
        {
            return;
        }

        if (!_capabilities.ContainsKey("STARTTLS"))
        {
            if (_options.TlsMode == SmtpTlsMode.Required)
            {
                throw Fail(new SmtpStartTlsException($"{RemoteEndPoint} does not offer STARTTLS, which is required"));
            }

            return;
        }

        var reply = await CommandAsync("STARTTLS"u8, null, cancellationToken).ConfigureAwait(false);
        if (reply.Code != 220)
        {
            if (_options.TlsMode == SmtpTlsMode.Required)
            {
                throw Fail(new SmtpStartTlsException($"{RemoteEndPoint} refused STARTTLS: {reply}", reply));
            }

            // Opportunistic: a refusal leaves a usable plain-text session (RFC 3207 §4).
            return;
        }

        await HandshakeAsync(cancellationToken).ConfigureAwait(false);
        await HelloAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task HelloAsync(CancellationToken cancellationToken)
    {
        var reply = await CommandAsync("EHLO "u8, _options.HeloName, cancellationToken).ConfigureAwait(false);
        if (reply.Code == 250)
        {
            IsExtended = true;
            _capabilities = ParseCapabilities(reply.Text);
            return;
        }

        if (!reply.IsPermanentFailure)
        {
            throw Fail($"{RemoteEndPoint} refused EHLO: {reply}", reply);
        }

        reply = await CommandAsync("HELO "u8, _options.HeloName, cancellationToken).ConfigureAwait(false);
        if (reply.Code != 250)
        {
            throw Fail($"{RemoteEndPoint} refused HELO: {reply}", reply);
        }

        IsExtended = false;
        _capabilities = NoCapabilities;
    }

    private static Dictionary<string, string> ParseCapabilities(string text)
    {
        var capabilities = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var lines = text.Split('\n');
        // The first line is the server's name and greeting text, not a keyword.
        for (var i = 1; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0)
            {
                continue;
            }

            var space = line.IndexOf(' ', StringComparison.Ordinal);
            var keyword = (space < 0 ? line : line[..space]).ToUpperInvariant();
            var value = space < 0 ? string.Empty : line[(space + 1)..].Trim();
            capabilities.TryAdd(keyword, value);
        }

        return capabilities;
    }

    private async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        // Anything the server sent after its 220 in the clear is dropped with the old reader (RFC 3207 §6).
        await _reader.CompleteAsync().ConfigureAwait(false);
        await _writer.CompleteAsync().ConfigureAwait(false);

        var tls = new SslStream(_stream, leaveInnerStreamOpen: false);
        _stream = tls;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.CommandTimeout);
        try
        {
            await tls.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = _options.TargetHost ?? RemoteEndPoint.Address.ToString(),
                    RemoteCertificateValidationCallback = ValidateCertificate,
                    CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                },
                timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or SocketException
                                      || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            _broken = true;
            throw new SmtpClientException($"TLS failed with {RemoteEndPoint}: {e.Message}", null, e);
        }

        _reader = CreateReader(tls);
        _writer = CreateWriter(tls);
        IsTls = true;
    }

    private bool ValidateCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (_options.CertificateValidation is { } callback)
        {
            return callback(sender, certificate, chain, errors);
        }

        // Opportunistic TLS (RFC 7435) encrypts without authenticating unless asked to.
        return !_options.ValidateCertificate || errors == SslPolicyErrors.None;
    }

    /// <summary>AUTH PLAIN when offered, else LOGIN.</summary>
    public async Task AuthenticateAsync(string user, string password, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(password);
        EnsureUsable();
        if (!_capabilities.TryGetValue("AUTH", out var offered))
        {
            throw new SmtpClientException($"{RemoteEndPoint} does not offer AUTH");
        }

        var mechanisms = offered.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        SmtpReply reply;
        if (mechanisms.Contains("PLAIN", StringComparer.OrdinalIgnoreCase))
        {
            var initial = Base64Utf8("\0" + user + "\0" + password);
            reply = await CommandAsync("AUTH PLAIN "u8, initial, cancellationToken).ConfigureAwait(false);
        }
        else if (mechanisms.Contains("LOGIN", StringComparer.OrdinalIgnoreCase))
        {
            reply = await CommandAsync("AUTH LOGIN"u8, null, cancellationToken).ConfigureAwait(false);
            if (reply.Code == 334)
            {
                reply = await CommandAsync([], Base64Utf8(user), cancellationToken).ConfigureAwait(false);
            }

            if (reply.Code == 334)
            {
                reply = await CommandAsync([], Base64Utf8(password), cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            throw new SmtpClientException($"{RemoteEndPoint} offers neither AUTH PLAIN nor LOGIN ({offered})");
        }

        if (reply.Code != 235)
        {
            throw new SmtpClientException($"Authentication with {RemoteEndPoint} failed: {reply}", reply);
        }
    }

    private static string Base64Utf8(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    /// <summary>MAIL, RCPT for each recipient, DATA (only if some RCPT succeeded) with dot-stuffing.
    /// <paramref name="message"/> must use CRLF line ends. Uses PIPELINING when offered.
    /// Leaves the connection ready for the next transaction (sends RSET when DATA did not complete).
    /// Addresses are written in their RFC 5321 form (<see cref="SmtpMailbox"/>).</summary>
    /// <exception cref="SmtpAddressException">An address cannot be written in SMTP; nothing was sent.</exception>
    public Task<SmtpTransactionResult> SendAsync(string reversePath, IReadOnlyList<string> recipients, ReadOnlyMemory<byte> message, CancellationToken cancellationToken) =>
        SendAsync(reversePath, recipients, message, SmtpDeliveryRequest.None, cancellationToken);

    /// <summary>The same, passing on what the submitting client asked for in <paramref name="request"/>: RET and ENVID
    /// on MAIL, NOTIFY and ORCPT on RCPT when the server offers DSN (RFC 3461 §5.2: without it they are dropped), and
    /// SMTPUTF8 on MAIL when the server offers it. A message that needs SMTPUTF8 (declared, and UTF-8 in its header)
    /// is not sent to a server without it: every recipient gets a local "553 5.6.7" (RFC 6531 §3.4), nothing is written.</summary>
    public async Task<SmtpTransactionResult> SendAsync(string reversePath, IReadOnlyList<string> recipients, ReadOnlyMemory<byte> message,
        SmtpDeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reversePath);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(recipients);
        if (recipients.Count == 0)
        {
            throw new ArgumentException("At least one recipient is required.", nameof(recipients));
        }

        // Every path is checked before anything is written, so a bad one leaves the connection as it was.
        var reverse = reversePath.Length == 0 ? "" : PathOf(reversePath);
        var forward = new string[recipients.Count];
        for (var i = 0; i < forward.Length; i++)
        {
            forward[i] = PathOf(recipients[i]);
        }

        EnsureUsable();
        var utf8 = request.Smtputf8 && _capabilities.ContainsKey("SMTPUTF8");
        if (request.Smtputf8 && !utf8 && SmtpDeliveryRequest.HeaderNeedsUtf8(message.Span))
        {
            var refusal = new SmtpReply(553, "5.6.7", $"SMTPUTF8 is required, but {RemoteEndPoint} does not offer it");
            return new SmtpTransactionResult(refusal, recipients.Select(r => (r, refusal)).ToArray(), null);
        }

        var dsn = request.HasDsn && _capabilities.ContainsKey("DSN");
        // Sized for the path and the usual parameters, so that it is not regrown per message.
        var mailParameters = new StringBuilder(reverse.Length + 64);
        mailParameters.Append('<').Append(reverse).Append('>');
        if (_capabilities.ContainsKey("SIZE"))
        {
            mailParameters.Append(" SIZE=").Append(message.Length);
        }

        if (_capabilities.ContainsKey("8BITMIME") && message.Span.ContainsAnyExceptInRange((byte)0, (byte)0x7F))
        {
            mailParameters.Append(" BODY=8BITMIME");
        }

        if (utf8)
        {
            mailParameters.Append(" SMTPUTF8");
        }

        if (dsn)
        {
            AppendDsnParameters(mailParameters, request);
        }

        for (var i = 0; i < forward.Length; i++)
        {
            forward[i] = RcptArgument(forward[i], dsn ? request.RecipientOf(recipients[i]) : null);
        }

        // RFC 2920: MAIL, every RCPT and DATA go in one write (section 3.1 lets DATA end a group; Postfix's client does
        // the same): one round trip per message fewer than waiting for the RCPT replies first. A server refuses that
        // DATA when no RCPT succeeded, and the body waits for its 354 either way.
        var pipelining = _capabilities.ContainsKey("PIPELINING");
        WriteCommand("MAIL FROM:"u8, mailParameters.ToString());
        if (pipelining)
        {
            foreach (var path in forward)
            {
                WriteCommand("RCPT TO:"u8, path);
            }
            WriteCommand("DATA"u8, null);
        }

        await FlushAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        var mailReply = await ReadReplyAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);

        var replies = new (string Recipient, SmtpReply Reply)[recipients.Count];
        var accepted = 0;
        for (var i = 0; i < recipients.Count; i++)
        {
            SmtpReply reply;
            if (pipelining)
            {
                reply = await ReadReplyAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            }
            else if (mailReply.IsPositive)
            {
                reply = await CommandAsync("RCPT TO:"u8, forward[i], cancellationToken).ConfigureAwait(false);
            }
            else
            {
                reply = mailReply;
            }

            if (!mailReply.IsPositive)
            {
                reply = mailReply;
            }
            else if (reply.IsPositive)
            {
                accepted++;
            }

            replies[i] = (recipients[i], reply);
        }

        if (pipelining)
        {
            return await FinishPipelinedAsync(mailReply, replies, accepted, message, cancellationToken).ConfigureAwait(false);
        }

        if (!mailReply.IsPositive)
        {
            return new SmtpTransactionResult(mailReply, replies, null);
        }

        if (accepted == 0)
        {
            await EndTransactionAsync(cancellationToken).ConfigureAwait(false);
            return new SmtpTransactionResult(mailReply, replies, null);
        }

        var dataReply = await CommandAsync("DATA"u8, null, cancellationToken).ConfigureAwait(false);
        return await SendBodyAsync(mailReply, replies, dataReply, message, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The rest of a pipelined transaction: the reply to the DATA sent with MAIL and RCPT, then the body.</summary>
    private async Task<SmtpTransactionResult> FinishPipelinedAsync(SmtpReply mailReply, (string Recipient, SmtpReply Reply)[] replies, int accepted,
        ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var dataReply = await ReadReplyAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (!mailReply.IsPositive || accepted == 0)
        {
            if (dataReply.Code == 354)
            {
                // A server that took DATA without a recipient (RFC 2920 says it must not): end the empty message at
                // once; whatever it answers, nobody receives it.
                _writer.Write(".\r\n"u8);
                await FlushAsync(_options.DataTimeout, cancellationToken).ConfigureAwait(false);
                await ReadReplyAsync(_options.DataTimeout, cancellationToken).ConfigureAwait(false);
            }
            if (mailReply.IsPositive)
            {
                await EndTransactionAsync(cancellationToken).ConfigureAwait(false);
            }
            return new SmtpTransactionResult(mailReply, replies, null);
        }

        return await SendBodyAsync(mailReply, replies, dataReply, message, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>After the reply to DATA with a recipient accepted: the body on 354, else the transaction is reset.</summary>
    private async Task<SmtpTransactionResult> SendBodyAsync(SmtpReply mailReply, (string Recipient, SmtpReply Reply)[] replies, SmtpReply dataReply,
        ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        if (dataReply.Code != 354)
        {
            await EndTransactionAsync(cancellationToken).ConfigureAwait(false);
            return new SmtpTransactionResult(mailReply, replies, dataReply);
        }

        await WriteBodyAsync(message, cancellationToken).ConfigureAwait(false);
        var finalReply = await ReadReplyAsync(_options.DataTimeout, cancellationToken).ConfigureAwait(false);
        return new SmtpTransactionResult(mailReply, replies, finalReply);
    }

    private static void AppendDsnParameters(StringBuilder mail, SmtpDeliveryRequest request)
    {
        if (request.Return != DsnReturn.Unspecified)
        {
            mail.Append(request.Return == DsnReturn.Full ? " RET=FULL" : " RET=HDRS");
        }

        if (request.EnvelopeId is { } envelopeId)
        {
            mail.Append(" ENVID=").Append(DsnParameters.EncodeXtext(envelopeId));
        }
    }

    /// <summary>"&lt;path&gt;" and the recipient's NOTIFY and ORCPT when it has them.</summary>
    private static string RcptArgument(string path, SmtpRecipient? dsn)
    {
        if (dsn is null || (dsn.Notify == DsnNotify.Unspecified && dsn.OriginalRecipient is null))
        {
            return "<" + path + ">";
        }

        var argument = new StringBuilder().Append('<').Append(path).Append('>');
        if (dsn.Notify != DsnNotify.Unspecified)
        {
            argument.Append(" NOTIFY=").Append(SmtpDeliveryRequest.NotifyText(dsn.Notify));
        }

        if (dsn.OriginalRecipient is { } original)
        {
            argument.Append(" ORCPT=").Append(DsnParameters.EncodeOriginalRecipient(dsn.OriginalRecipientType ?? "rfc822", original));
        }

        return argument.ToString();
    }

    private static string PathOf(string address) =>
        SmtpMailbox.TryFormat(address, out var path, out var problem) ? path : throw new SmtpAddressException(address, problem);

    /// <summary>Closes an open transaction the server still holds; its reply does not matter.</summary>
    private async Task EndTransactionAsync(CancellationToken cancellationToken) =>
        await CommandAsync("RSET"u8, null, cancellationToken).ConfigureAwait(false);

    /// <summary>Streams the body with dot-stuffing (RFC 5321 §4.5.2), then CRLF "." CRLF.</summary>
    private async Task WriteBodyAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var atLineStart = true;
        var position = 0;
        // Bounded by the message: each pass writes up to one chunk of it.
        while (position < message.Length)
        {
            position += WriteStuffedChunk(message.Span[position..], ref atLineStart);
            if (_writer.UnflushedBytes >= BodyChunkSize)
            {
                await FlushAsync(_options.DataTimeout, cancellationToken).ConfigureAwait(false);
            }
        }

        var span = message.Span;
        if (span.Length > 0 && !span.EndsWith("\r\n"u8))
        {
            _writer.Write(span[^1] == (byte)'\r' ? "\n"u8 : "\r\n"u8);
        }

        _writer.Write(".\r\n"u8);
        await FlushAsync(_options.DataTimeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes up to <see cref="BodyChunkSize"/> bytes of <paramref name="rest"/>, doubling every dot that
    /// starts a line. Returns how many input bytes were written.</summary>
    /// <remarks>Searches for the rare LF "." pair rather than for every line end, so a body without leading dots is
    /// copied in one piece instead of a write per line (a 100 KB message has some 1,300 lines).</remarks>
    private int WriteStuffedChunk(ReadOnlySpan<byte> rest, ref bool atLineStart)
    {
        var chunk = rest[..Math.Min(rest.Length, BodyChunkSize)];
        if (chunk.IsEmpty)
        {
            return 0;
        }

        // A line that began in the previous chunk's last byte.
        if (atLineStart && chunk[0] == (byte)'.')
        {
            _writer.Write("."u8);
        }

        var consumed = 0;
        // Bounded by the chunk: each pass writes at least one byte of it.
        while (consumed < chunk.Length)
        {
            var remaining = chunk[consumed..];
            var lineFeedDot = remaining.IndexOf("\n."u8);
            if (lineFeedDot < 0)
            {
                _writer.Write(remaining);
                consumed = chunk.Length;
                break;
            }

            _writer.Write(remaining[..(lineFeedDot + 1)]);
            _writer.Write("."u8);
            consumed += lineFeedDot + 1;
        }

        atLineStart = chunk[^1] == (byte)'\n';
        return consumed;
    }

    /// <summary>RSET, to reuse the connection for another transaction.</summary>
    public async Task ResetAsync(CancellationToken cancellationToken)
    {
        EnsureUsable();
        var reply = await CommandAsync("RSET"u8, null, cancellationToken).ConfigureAwait(false);
        if (reply.Code != 250)
        {
            throw new SmtpClientException($"{RemoteEndPoint} refused RSET: {reply}", reply);
        }
    }

    /// <summary>QUIT politely; never throws.</summary>
    public async Task QuitAsync(CancellationToken cancellationToken)
    {
        if (_broken || _disposed)
        {
            return;
        }

        try
        {
            await CommandAsync("QUIT"u8, null, cancellationToken).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // QUIT is a courtesy: whatever goes wrong, the connection is finished anyway.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
        finally
        {
            _broken = true;
        }
    }

    private Task<SmtpReply> CommandAsync(ReadOnlySpan<byte> verb, string? argument, CancellationToken cancellationToken)
    {
        WriteCommand(verb, argument);
        return FlushAndReadAsync(cancellationToken);
    }

    private async Task<SmtpReply> FlushAndReadAsync(CancellationToken cancellationToken)
    {
        await FlushAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        return await ReadReplyAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
    }

    private void WriteCommand(ReadOnlySpan<byte> verb, string? argument)
    {
        if (_options.Transcript is { } transcript)
        {
            Server.SmtpTranscript.Sent(transcript, RemoteEndPoint, verb, argument);
        }

        _writer.Write(verb);
        if (argument is not null)
        {
            var span = _writer.GetSpan(Encoding.UTF8.GetMaxByteCount(argument.Length));
            var written = Encoding.UTF8.GetBytes(argument, span);
            _writer.Advance(written);
        }

        _writer.Write("\r\n"u8);
    }

    private async Task FlushAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        EnsureUsable();
        var deadline = _deadline.Start(timeout, cancellationToken);
        try
        {
            await _writer.FlushAsync(deadline).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw Fail($"Timed out writing to {RemoteEndPoint}");
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            throw Fail($"Connection to {RemoteEndPoint} failed: {e.Message}", inner: e);
        }
        finally
        {
            _deadline.End();
        }
    }

    // Runs once per reply and waits for the server: a pooled state machine instead of one per reply. Every caller
    // awaits it at once, as a pooled ValueTask requires.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<SmtpReply> ReadReplyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        EnsureUsable();
        var deadline = _deadline.Start(timeout, cancellationToken);
        try
        {
            // Bounded by the parser's line and size limits.
            while (true)
            {
                var result = await _reader.ReadAsync(deadline).ConfigureAwait(false);
                var buffer = result.Buffer;
                var found = _parser.TryParse(ref buffer, out var reply);
                // Pipelined replies may already be buffered behind this one: only mark everything
                // examined (and so wait for new bytes next time) when no complete reply was found.
                _reader.AdvanceTo(buffer.Start, found ? buffer.Start : result.Buffer.End);
                if (found)
                {
                    if (_options.Transcript is { } transcript)
                    {
                        Server.SmtpTranscript.Received(transcript, RemoteEndPoint, reply);
                    }

                    if (reply.Code == 421)
                    {
                        throw Fail($"{RemoteEndPoint} is closing the session: {reply}", reply);
                    }

                    return reply;
                }

                if (result.IsCompleted)
                {
                    throw Fail($"{RemoteEndPoint} closed the connection");
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw Fail($"Timed out waiting for a reply from {RemoteEndPoint}");
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            throw Fail($"Connection to {RemoteEndPoint} failed: {e.Message}", inner: e);
        }
        catch (SmtpClientException)
        {
            _broken = true;
            _parser.Reset();
            throw;
        }
        finally
        {
            _deadline.End();
        }
    }

    private SmtpClientException Fail(string message, SmtpReply? reply = null, Exception? inner = null) =>
        Fail(new SmtpClientException(message, reply, inner));

    private SmtpClientException Fail(SmtpClientException error)
    {
        _broken = true;
        return error;
    }

    private void EnsureUsable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_broken)
        {
            throw new SmtpClientException($"The connection to {RemoteEndPoint} is no longer usable");
        }
    }

    private static PipeReader CreateReader(Stream stream) =>
        PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));

    // Segments as large as a body chunk: the writer hands the stream one write per segment, so with the
    // default 4 KiB segments a 100 KB message cost 25 send calls; now it costs two.
    private static PipeWriter CreateWriter(Stream stream) =>
        PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: BodyChunkSize, leaveOpen: true));

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await _reader.CompleteAsync().ConfigureAwait(false);
        await _writer.CompleteAsync().ConfigureAwait(false);
        try
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // Closing a connection that is already broken.
        }

        _socket.Dispose();
        _deadline.Dispose();
    }
}
