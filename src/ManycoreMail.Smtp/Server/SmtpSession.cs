using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using ManycoreMail.Smtp.Internal;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Smtp.Server;

/// <summary>
/// One SMTP conversation: a read loop over a <see cref="PipeReader"/> that takes whole lines off the
/// buffer, answers each in order into a <see cref="PipeWriter"/>, and flushes when the buffer holds
/// no further complete command (so a pipelined group gets one write back).
/// </summary>
internal sealed class SmtpSession : IAsyncDisposable
{
    /// <summary>RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with its CR LF.</summary>
    private const int MaxCommandLine = 512;
    /// <summary>RFC 4954 §4: AUTH command and response lines may be up to 12288 octets.</summary>
    private const int MaxAuthLine = 12288;
    private const int ReadBufferSize = 8 * 1024;

    private readonly Socket _socket;
    private readonly SmtpServerOptions _options;
    private readonly ISmtpHandler _handler;
    private readonly ILogger _logger;
    private readonly CancellationToken _stopping;
    private readonly CancellationToken _aborted;
    private readonly CancellationTokenRegistration _abortRegistration;
    private readonly SmtpSessionInfo _info;
    private readonly SmtpDataDecoder _data = new();
    private readonly List<string> _recipients = [];

    private Stream _stream;
    private PipeReader _reader;
    private PipeWriter _writer;
    private CancellationTokenSource _ioTimeout = new();

    private InputMode _mode;
    private bool _discardingLongLine;
    private bool _greeted;
    private bool _extended;
    private string? _reversePath;
    private bool _recipientAttempted;
    private string? _authLoginUser;
    private int _errors;

    private enum InputMode : byte
    {
        Command,
        Data,
        AuthPlainResponse,
        AuthLoginUser,
        AuthLoginPassword,
    }

    private enum Next : byte
    {
        Continue,
        Close,
        StartTls,
    }

    private enum PendingKind : byte
    {
        None,
        MailFrom,
        RcptTo,
        Authenticate,
        Message,
    }

    /// <summary>Work for the handler that a synchronous (span-based) parse step hands to the async loop.</summary>
    private readonly record struct Pending(PendingKind Kind, string First = "", string Second = "");

    public SmtpSession(Socket socket, SmtpServerOptions options, ISmtpHandler handler, ILogger logger, CancellationToken stopping, CancellationToken aborted)
    {
        _socket = socket;
        _options = options;
        _handler = handler;
        _logger = logger;
        _stopping = stopping;
        _aborted = aborted;
        var remote = (IPEndPoint)socket.RemoteEndPoint!;
        _info = new SmtpSessionInfo
        {
            RemoteEndPoint = remote,
            LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!,
            IsTrusted = IsTrusted(remote.Address, options.TrustedNetworks),
        };
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = CreateReader(_stream);
        _writer = CreateWriter(_stream);
        // Past the stop deadline nothing is polite any more: closing the socket fails every pending read and write.
        _abortRegistration = aborted.UnsafeRegister(static s => ((Socket)s!).Dispose(), socket);
    }

    internal SmtpSessionInfo Info => _info;

    private bool InTransaction => _reversePath is not null || _mode == InputMode.Data;

    internal static bool IsTrusted(IPAddress address, IReadOnlyList<IPNetwork> networks)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        foreach (var network in networks)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    public async Task RunAsync()
    {
        var remote = _info.RemoteEndPoint;
        try
        {
            var reason = await ConverseAsync().ConfigureAwait(false);
            SmtpSessionLog.SessionEnded(_logger, remote, reason);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or AuthenticationException)
        {
            SmtpSessionLog.SessionIoError(_logger, remote, e);
        }
        catch (Exception e)
        {
            // A bug in the session must cost one connection, never the server.
            SmtpSessionLog.SessionFailed(_logger, remote, e);
        }
    }

    private async Task<string> ConverseAsync()
    {
        SmtpReplyWriter.WriteLine(_writer, 220, last: true, null, $"{_options.ServerName} ESMTP");
        await FlushAsync().ConfigureAwait(false);

        // Bounded by the peer: every pass either consumes input, waits for it, or ends the session.
        while (true)
        {
            if (_stopping.IsCancellationRequested && !InTransaction)
            {
                _writer.Write("421 4.3.2 Service shutting down\r\n"u8);
                await FlushAsync().ConfigureAwait(false);
                return "server stopping";
            }

            ReadResult result;
            ArmTimeout(_mode == InputMode.Data ? _options.DataTimeout : _options.CommandTimeout);
            // An idle session leaves as soon as the server stops; one in a transaction may finish it.
            var stopRegistration = InTransaction
                ? default
                : _stopping.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), _ioTimeout);
            try
            {
                result = await _reader.ReadAsync(_ioTimeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!_aborted.IsCancellationRequested)
            {
                var stopping = _stopping.IsCancellationRequested && !InTransaction;
                _writer.Write(stopping ? "421 4.3.2 Service shutting down\r\n"u8 : "421 4.4.2 Timeout waiting for input, closing connection\r\n"u8);
                await TryFlushAsync().ConfigureAwait(false);
                return stopping ? "server stopping" : "timeout";
            }
            finally
            {
                await stopRegistration.DisposeAsync().ConfigureAwait(false);
            }

            var buffer = result.Buffer;
            var (consumed, next) = await ProcessAsync(buffer).ConfigureAwait(false);
            _reader.AdvanceTo(consumed, buffer.End);

            switch (next)
            {
                case Next.Close:
                    await FlushAsync().ConfigureAwait(false);
                    return "closed";
                case Next.StartTls:
                    if (!await UpgradeToTlsAsync().ConfigureAwait(false))
                    {
                        return "TLS handshake failed";
                    }

                    continue;
            }

            await FlushAsync().ConfigureAwait(false);
            if (result.IsCompleted)
            {
                return "client closed the connection";
            }
        }
    }

    /// <summary>Answers everything complete in <paramref name="buffer"/>. Returns how far it was consumed.</summary>
    private async ValueTask<(SequencePosition Consumed, Next Next)> ProcessAsync(ReadOnlySequence<byte> buffer)
    {
        // Bounded by the buffer: every pass consumes at least one line or the rest of the data.
        while (true)
        {
            if (_mode == InputMode.Data)
            {
                if (!_data.Decode(buffer, out var end))
                {
                    return (buffer.End, Next.Continue);
                }

                buffer = buffer.Slice(end);
                _mode = InputMode.Command;
                var reply = await CompleteMessageAsync().ConfigureAwait(false);
                if (reply.Code == 421)
                {
                    return (buffer.Start, Next.Close);
                }

                continue;
            }

            var limit = _mode == InputMode.Command && !StartsWithAuth(buffer) ? MaxCommandLine : MaxAuthLine;
            if (!SmtpLineReader.TryReadLine(ref buffer, out var line, out var wireLength))
            {
                // Enforce the limit before the line is complete, so a client that never sends LF cannot
                // grow the buffer: drop what we have and remember to answer once the line finally ends.
                if (_discardingLongLine || buffer.Length >= limit)
                {
                    _discardingLongLine = true;
                    return (buffer.End, Next.Continue);
                }

                return (buffer.Start, Next.Continue);
            }

            Next next;
            if (_discardingLongLine || wireLength > limit)
            {
                _discardingLongLine = false;
                _mode = InputMode.Command;
                next = Error("500 5.5.2 Line too long\r\n"u8);
            }
            else
            {
                next = HandleLine(line, out var pending);
                if (pending.Kind != PendingKind.None)
                {
                    next = await RunPendingAsync(pending).ConfigureAwait(false);
                }
            }

            if (next != Next.Continue)
            {
                return (buffer.Start, next);
            }
        }
    }

    private static bool StartsWithAuth(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < 5)
        {
            return false;
        }

        Span<byte> head = stackalloc byte[5];
        buffer.Slice(0, 5).CopyTo(head);
        return Ascii.EqualsIgnoreCase(head, "AUTH "u8);
    }

    private Next HandleLine(in ReadOnlySequence<byte> line, out Pending pending)
    {
        if (line.IsSingleSegment)
        {
            return HandleLine(line.FirstSpan, out pending);
        }

        var rented = ArrayPool<byte>.Shared.Rent((int)line.Length);
        try
        {
            line.CopyTo(rented);
            return HandleLine(rented.AsSpan(0, (int)line.Length), out pending);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private Next HandleLine(ReadOnlySpan<byte> line, out Pending pending)
    {
        pending = default;
        switch (_mode)
        {
            case InputMode.AuthPlainResponse:
                _mode = InputMode.Command;
                return IsCancel(line) ? Cancelled() : DecodePlain(line, out pending);
            case InputMode.AuthLoginUser:
                _mode = InputMode.Command;
                if (IsCancel(line))
                {
                    return Cancelled();
                }

                if (!TryDecodeBase64(line, out var user))
                {
                    return Error("501 5.5.2 Cannot decode response\r\n"u8);
                }

                _authLoginUser = user;
                _mode = InputMode.AuthLoginPassword;
                _writer.Write("334 UGFzc3dvcmQ6\r\n"u8);
                return Next.Continue;
            case InputMode.AuthLoginPassword:
                _mode = InputMode.Command;
                if (IsCancel(line))
                {
                    return Cancelled();
                }

                if (!TryDecodeBase64(line, out var password))
                {
                    return Error("501 5.5.2 Cannot decode response\r\n"u8);
                }

                pending = new Pending(PendingKind.Authenticate, _authLoginUser ?? string.Empty, password);
                _authLoginUser = null;
                return Next.Continue;
        }

        var space = line.IndexOf((byte)' ');
        var verb = space < 0 ? line : line[..space];
        var args = space < 0 ? [] : line[(space + 1)..].Trim((byte)' ');

        if (verb.Length == 4)
        {
            if (Ascii.EqualsIgnoreCase(verb, "MAIL"u8)) return Mail(args, out pending);
            if (Ascii.EqualsIgnoreCase(verb, "RCPT"u8)) return Rcpt(args, out pending);
            if (Ascii.EqualsIgnoreCase(verb, "DATA"u8)) return Data(args);
            if (Ascii.EqualsIgnoreCase(verb, "EHLO"u8)) return Hello(args, extended: true);
            if (Ascii.EqualsIgnoreCase(verb, "HELO"u8)) return Hello(args, extended: false);
            if (Ascii.EqualsIgnoreCase(verb, "RSET"u8)) return Reset(args);
            if (Ascii.EqualsIgnoreCase(verb, "NOOP"u8)) return Reply("250 2.0.0 OK\r\n"u8);
            if (Ascii.EqualsIgnoreCase(verb, "QUIT"u8)) return Quit();
            if (Ascii.EqualsIgnoreCase(verb, "AUTH"u8)) return Auth(args, out pending);
            if (Ascii.EqualsIgnoreCase(verb, "VRFY"u8))
            {
                return args.IsEmpty
                    ? Error("501 5.5.4 Syntax: VRFY address\r\n"u8)
                    : Reply("252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"u8);
            }

            if (Ascii.EqualsIgnoreCase(verb, "EXPN"u8)) return Reply("502 5.5.1 EXPN not available\r\n"u8);
            if (Ascii.EqualsIgnoreCase(verb, "HELP"u8))
            {
                return Reply("214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS AUTH\r\n"u8);
            }
        }
        else if (Ascii.EqualsIgnoreCase(verb, "STARTTLS"u8))
        {
            return StartTls(args);
        }

        return Error("500 5.5.1 Command unrecognized\r\n"u8);
    }

    private Next Hello(ReadOnlySpan<byte> args, bool extended)
    {
        if (args.IsEmpty || args.ContainsAnyExceptInRange((byte)0x21, (byte)0x7E))
        {
            return Error(extended ? "501 5.5.4 Syntax: EHLO hostname\r\n"u8 : "501 5.5.4 Syntax: HELO hostname\r\n"u8);
        }

        // RFC 5321 §4.1.4: EHLO/HELO implies RSET.
        ResetTransaction();
        _greeted = true;
        _extended = extended;
        _info.HeloName = Encoding.ASCII.GetString(args);

        // RFC 2034 §3: no enhanced status codes in the reply to EHLO/HELO.
        if (!extended)
        {
            SmtpReplyWriter.WriteLine(_writer, 250, last: true, null, _options.ServerName);
            return Next.Continue;
        }

        SmtpReplyWriter.WriteLine(_writer, 250, last: false, null, _options.ServerName);
        _writer.Write("250-PIPELINING\r\n"u8);
        SmtpReplyWriter.WriteLine(_writer, 250, last: false, null, $"SIZE {_options.MaxMessageSize}");
        if (!_info.IsTls && _options.CertificateProvider() is not null)
        {
            _writer.Write("250-STARTTLS\r\n"u8);
        }

        if (AuthAllowedHere)
        {
            _writer.Write("250-AUTH PLAIN LOGIN\r\n"u8);
        }

        _writer.Write("250-8BITMIME\r\n"u8);
        _writer.Write("250 ENHANCEDSTATUSCODES\r\n"u8);
        return Next.Continue;
    }

    private bool AuthAllowedHere => _options.AuthEnabled && (_info.IsTls || _info.IsTrusted || !_options.AuthRequiresTls);

    private Next Mail(ReadOnlySpan<byte> args, out Pending pending)
    {
        pending = default;
        if (!_greeted)
        {
            return Error("503 5.5.1 Send EHLO or HELO first\r\n"u8);
        }

        if (_reversePath is not null)
        {
            return Error("503 5.5.1 Nested MAIL command\r\n"u8);
        }

        if (_options.RequireAuthentication && _info.AuthenticatedUser is null && !_info.IsTrusted)
        {
            return Error("530 5.7.0 Authentication required\r\n"u8);
        }

        if (args.Length < 5 || !Ascii.EqualsIgnoreCase(args[..5], "FROM:"u8))
        {
            return Error("501 5.5.4 Syntax: MAIL FROM:<address>\r\n"u8);
        }

        switch (SmtpPathParser.Parse(args[5..], allowNull: true, out var reversePath, out var parameters))
        {
            case PathParseResult.Syntax:
                return Error("501 5.5.4 Syntax: MAIL FROM:<address>\r\n"u8);
            case PathParseResult.BadAddress:
                return Error("501 5.1.7 Bad sender address syntax\r\n"u8);
        }

        // Bounded by the parameter text: each pass consumes one parameter.
        while (!parameters.IsEmpty)
        {
            var space = parameters.IndexOf((byte)' ');
            var parameter = space < 0 ? parameters : parameters[..space];
            parameters = space < 0 ? [] : parameters[(space + 1)..].TrimStart((byte)' ');

            if (parameter.Length > 5 && Ascii.EqualsIgnoreCase(parameter[..5], "SIZE="u8))
            {
                if (!Utf8Parser.TryParse(parameter[5..], out long declared, out var used) || used != parameter.Length - 5 || declared < 0)
                {
                    return Error("501 5.5.4 Bad SIZE parameter\r\n"u8);
                }

                if (declared > _options.MaxMessageSize)
                {
                    return Reply("552 5.3.4 Message size exceeds fixed maximum message size\r\n"u8);
                }
            }
            else if (parameter.Length > 5 && Ascii.EqualsIgnoreCase(parameter[..5], "BODY="u8))
            {
                var body = parameter[5..];
                if (!Ascii.EqualsIgnoreCase(body, "7BIT"u8) && !Ascii.EqualsIgnoreCase(body, "8BITMIME"u8))
                {
                    return Error("501 5.5.4 Unsupported BODY type\r\n"u8);
                }
            }
            else if (parameter.Length >= 5 && Ascii.EqualsIgnoreCase(parameter[..5], "AUTH="u8) && _options.AuthEnabled)
            {
                // RFC 4954 §5: the AUTH parameter may be ignored; we never relay on its word.
            }
            else
            {
                return Error("555 5.5.4 Unsupported MAIL parameter\r\n"u8);
            }
        }

        pending = new Pending(PendingKind.MailFrom, reversePath);
        return Next.Continue;
    }

    private Next Rcpt(ReadOnlySpan<byte> args, out Pending pending)
    {
        pending = default;
        if (_reversePath is null)
        {
            return Error("503 5.5.1 Need MAIL command\r\n"u8);
        }

        if (args.Length < 3 || !Ascii.EqualsIgnoreCase(args[..3], "TO:"u8))
        {
            return Error("501 5.5.4 Syntax: RCPT TO:<address>\r\n"u8);
        }

        _recipientAttempted = true;
        switch (SmtpPathParser.Parse(args[3..], allowNull: false, out var forwardPath, out var parameters))
        {
            case PathParseResult.Syntax:
                return Error("501 5.5.4 Syntax: RCPT TO:<address>\r\n"u8);
            case PathParseResult.BadAddress:
                return Error("501 5.1.3 Bad recipient address syntax\r\n"u8);
        }

        if (!forwardPath.Contains('@', StringComparison.Ordinal) && !SmtpPathParser.IsPostmaster(forwardPath))
        {
            return Error("501 5.1.3 Bad recipient address syntax\r\n"u8);
        }

        if (!parameters.IsEmpty)
        {
            return Error("555 5.5.4 Unsupported RCPT parameter\r\n"u8);
        }

        if (_recipients.Count >= _options.MaxRecipients)
        {
            return Reply("452 4.5.3 Too many recipients\r\n"u8);
        }

        pending = new Pending(PendingKind.RcptTo, forwardPath);
        return Next.Continue;
    }

    private Next Data(ReadOnlySpan<byte> args)
    {
        if (_reversePath is null)
        {
            return Error("503 5.5.1 Need MAIL command\r\n"u8);
        }

        if (_recipients.Count == 0)
        {
            // After a pipelined group whose RCPTs were all refused (RFC 2920 §3.1).
            return _recipientAttempted ? Reply("554 5.5.1 No valid recipients\r\n"u8) : Error("503 5.5.1 Need RCPT command\r\n"u8);
        }

        if (!args.IsEmpty)
        {
            return Error("501 5.5.4 Syntax: DATA\r\n"u8);
        }

        _data.Begin(_options.MaxMessageSize, _options.MaxDataLineLength);
        _mode = InputMode.Data;
        return Reply("354 End data with <CR><LF>.<CR><LF>\r\n"u8);
    }

    private Next Reset(ReadOnlySpan<byte> args)
    {
        if (!args.IsEmpty)
        {
            return Error("501 5.5.4 Syntax: RSET\r\n"u8);
        }

        ResetTransaction();
        return Reply("250 2.0.0 OK\r\n"u8);
    }

    private Next Quit()
    {
        SmtpReplyWriter.WriteLine(_writer, 221, last: true, "2.0.0", $"{_options.ServerName} closing connection");
        return Next.Close;
    }

    private Next StartTls(ReadOnlySpan<byte> args)
    {
        if (_info.IsTls)
        {
            return Error("503 5.5.1 TLS already active\r\n"u8);
        }

        if (_options.CertificateProvider() is null)
        {
            return Error("502 5.5.1 STARTTLS not available\r\n"u8);
        }

        if (!args.IsEmpty)
        {
            return Error("501 5.5.4 Syntax: STARTTLS\r\n"u8);
        }

        if (InTransaction)
        {
            return Error("503 5.5.1 STARTTLS not allowed during a mail transaction\r\n"u8);
        }

        _writer.Write("220 2.0.0 Ready to start TLS\r\n"u8);
        return Next.StartTls;
    }

    private Next Auth(ReadOnlySpan<byte> args, out Pending pending)
    {
        pending = default;
        if (!_options.AuthEnabled)
        {
            return Error("502 5.5.1 AUTH not available\r\n"u8);
        }

        if (!_greeted || !_extended)
        {
            return Error("503 5.5.1 Send EHLO first\r\n"u8);
        }

        if (_info.AuthenticatedUser is not null)
        {
            return Error("503 5.5.1 Already authenticated\r\n"u8);
        }

        if (InTransaction)
        {
            return Error("503 5.5.1 AUTH not allowed during a mail transaction\r\n"u8);
        }

        if (!AuthAllowedHere)
        {
            return Error("538 5.7.11 Encryption required for requested authentication mechanism\r\n"u8);
        }

        var space = args.IndexOf((byte)' ');
        var mechanism = space < 0 ? args : args[..space];
        var initial = space < 0 ? [] : args[(space + 1)..];

        if (Ascii.EqualsIgnoreCase(mechanism, "PLAIN"u8))
        {
            if (initial.IsEmpty)
            {
                _mode = InputMode.AuthPlainResponse;
                return Reply("334 \r\n"u8);
            }

            return DecodePlain(initial, out pending);
        }

        if (Ascii.EqualsIgnoreCase(mechanism, "LOGIN"u8))
        {
            if (initial.IsEmpty)
            {
                _mode = InputMode.AuthLoginUser;
                return Reply("334 VXNlcm5hbWU6\r\n"u8);
            }

            if (!TryDecodeBase64(initial, out var user))
            {
                return Error("501 5.5.2 Cannot decode response\r\n"u8);
            }

            _authLoginUser = user;
            _mode = InputMode.AuthLoginPassword;
            return Reply("334 UGFzc3dvcmQ6\r\n"u8);
        }

        return Error("504 5.5.4 Unrecognized authentication type\r\n"u8);
    }

    /// <summary>RFC 4616: [authzid] NUL authcid NUL passwd.</summary>
    private Next DecodePlain(ReadOnlySpan<byte> base64, out Pending pending)
    {
        pending = default;
        var decoded = ArrayPool<byte>.Shared.Rent(Base64.GetMaxDecodedFromUtf8Length(base64.Length));
        try
        {
            var length = 0;
            if (!base64.SequenceEqual("="u8)
                && Base64.DecodeFromUtf8(base64, decoded, out _, out length) != OperationStatus.Done)
            {
                return Error("501 5.5.2 Cannot decode response\r\n"u8);
            }

            var message = decoded.AsSpan(0, length);
            var first = message.IndexOf((byte)0);
            var second = first < 0 ? -1 : message[(first + 1)..].IndexOf((byte)0);
            if (second < 0)
            {
                return Error("501 5.5.2 Cannot decode response\r\n"u8);
            }

            var authzid = message[..first];
            var authcid = message.Slice(first + 1, second);
            var password = message[(first + 1 + second + 1)..];
            if (!authzid.IsEmpty && !authzid.SequenceEqual(authcid))
            {
                // Acting as somebody else is not supported: same answer as bad credentials.
                pending = new Pending(PendingKind.Authenticate, string.Empty, string.Empty);
                return Next.Continue;
            }

            pending = new Pending(PendingKind.Authenticate, Encoding.UTF8.GetString(authcid), Encoding.UTF8.GetString(password));
            return Next.Continue;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(decoded, clearArray: true);
        }
    }

    private static bool IsCancel(ReadOnlySpan<byte> line) => line.SequenceEqual("*"u8);

    private Next Cancelled()
    {
        _authLoginUser = null;
        return Error("501 5.0.0 Authentication cancelled\r\n"u8);
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

    private async ValueTask<Next> RunPendingAsync(Pending pending)
    {
        switch (pending.Kind)
        {
            case PendingKind.MailFrom:
            {
                var reply = await AskHandlerAsync(pending, envelope: null, message: default).ConfigureAwait(false);
                if (reply.IsPositive)
                {
                    _reversePath = pending.First;
                }

                return Relay(reply);
            }

            case PendingKind.RcptTo:
            {
                var reply = await AskHandlerAsync(pending, envelope: null, message: default).ConfigureAwait(false);
                if (reply.IsPositive)
                {
                    _recipients.Add(pending.First);
                }

                return Relay(reply);
            }

            case PendingKind.Authenticate:
                return await AuthenticateAsync(pending.First, pending.Second).ConfigureAwait(false);
            default:
                return Next.Continue;
        }
    }

    private async ValueTask<Next> AuthenticateAsync(string user, string password)
    {
        bool ok;
        try
        {
            ok = user.Length > 0 && await _handler.AuthenticateAsync(_info, user, password, _aborted).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !_aborted.IsCancellationRequested)
        {
            SmtpSessionLog.HandlerFailed(_logger, "AUTH", _info.RemoteEndPoint, e);
            return Reply("451 4.3.0 Temporary failure, please retry\r\n"u8);
        }

        if (ok)
        {
            _info.AuthenticatedUser = user;
            return Reply("235 2.7.0 Authentication successful\r\n"u8);
        }

        SmtpSessionLog.AuthFailed(_logger, _info.RemoteEndPoint);
        // Slows down guessing; product behaviour, not synchronisation.
        if (_options.AuthFailureDelay > TimeSpan.Zero)
        {
            await Task.Delay(_options.AuthFailureDelay, _aborted).ConfigureAwait(false);
        }

        return Error("535 5.7.8 Authentication credentials invalid\r\n"u8);
    }

    private async ValueTask<SmtpReply> CompleteMessageAsync()
    {
        SmtpReply reply;
        try
        {
            if (_data.TooLarge)
            {
                reply = new SmtpReply(552, "5.3.4", "Message size exceeds fixed maximum message size");
            }
            else if (_data.SawBareLineBreak)
            {
                reply = new SmtpReply(550, "5.6.0", "Bare LF or CR in message not allowed");
            }
            else if (_data.LineTooLong)
            {
                reply = new SmtpReply(500, "5.5.2", "Line too long in message data");
            }
            else
            {
                var envelope = new SmtpEnvelope(_reversePath!, [.. _recipients]);
                var message = _data.Message;
                reply = await AskHandlerAsync(new Pending(PendingKind.Message), envelope, message).ConfigureAwait(false);
            }
        }
        finally
        {
            // Only after the handler's task completed: it may read the sequence until then.
            _data.Release();
            ResetTransaction();
        }

        Relay(reply);
        return reply;
    }

    private async ValueTask<SmtpReply> AskHandlerAsync(Pending pending, SmtpEnvelope? envelope, ReadOnlySequence<byte> message)
    {
        try
        {
            var reply = pending.Kind switch
            {
                PendingKind.MailFrom => await _handler.MailFromAsync(_info, pending.First, _aborted).ConfigureAwait(false),
                PendingKind.RcptTo => await _handler.RcptToAsync(_info, _reversePath!, pending.First, _aborted).ConfigureAwait(false),
                _ => await _handler.MessageAsync(_info, envelope!, message, _aborted).ConfigureAwait(false),
            };
            if (reply.Code is < 200 or > 599)
            {
                SmtpSessionLog.HandlerInvalidReply(_logger, reply.Code, pending.Kind.ToString());
                return TemporaryFailure;
            }

            return reply;
        }
        catch (Exception e) when (e is not OperationCanceledException || !_aborted.IsCancellationRequested)
        {
            SmtpSessionLog.HandlerFailed(_logger, pending.Kind.ToString(), _info.RemoteEndPoint, e);
            return TemporaryFailure;
        }
    }

    private static SmtpReply TemporaryFailure => new(451, "4.3.0", "Temporary failure, please retry");

    /// <summary>Writes a handler's reply; a 421 from the handler means "close", as RFC 5321 says it does.</summary>
    private Next Relay(in SmtpReply reply)
    {
        SmtpReplyWriter.Write(_writer, reply);
        return reply.Code == 421 ? Next.Close : Next.Continue;
    }

    private Next Reply(ReadOnlySpan<byte> reply)
    {
        _writer.Write(reply);
        return Next.Continue;
    }

    /// <summary>A protocol error: counts toward <see cref="SmtpServerOptions.MaxErrors"/>.</summary>
    private Next Error(ReadOnlySpan<byte> reply)
    {
        _writer.Write(reply);
        if (++_errors < _options.MaxErrors)
        {
            return Next.Continue;
        }

        _writer.Write("421 4.7.0 Too many errors, closing connection\r\n"u8);
        return Next.Close;
    }

    private void ResetTransaction()
    {
        _reversePath = null;
        _recipients.Clear();
        _recipientAttempted = false;
    }

    private async Task<bool> UpgradeToTlsAsync()
    {
        var certificate = _options.CertificateProvider();
        await FlushAsync().ConfigureAwait(false);

        // Completing the reader drops whatever the client sent after STARTTLS in the clear: those bytes
        // must never be read as commands of the protected session (CVE-2011-0411).
        await _reader.CompleteAsync().ConfigureAwait(false);
        await _writer.CompleteAsync().ConfigureAwait(false);

        var tls = new SslStream(_stream, leaveInnerStreamOpen: false);
        _stream = tls;
        ArmTimeout(_options.CommandTimeout);
        try
        {
            await tls.AuthenticateAsServerAsync(
                new SslServerAuthenticationOptions
                {
                    ServerCertificate = certificate,
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    ClientCertificateRequired = false,
                },
                _ioTimeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException or SocketException)
        {
            SmtpSessionLog.TlsFailed(_logger, _info.RemoteEndPoint, e);
            return false;
        }

        _reader = CreateReader(tls);
        _writer = CreateWriter(tls);
        _info.IsTls = true;
        // RFC 3207 §4.2: forget everything learned before TLS.
        _greeted = false;
        _extended = false;
        _info.HeloName = null;
        _info.AuthenticatedUser = null;
        _mode = InputMode.Command;
        _discardingLongLine = false;
        ResetTransaction();
        return true;
    }

    private void ArmTimeout(TimeSpan timeout)
    {
        if (!_ioTimeout.TryReset())
        {
            _ioTimeout.Dispose();
            _ioTimeout = new CancellationTokenSource();
        }

        _ioTimeout.CancelAfter(timeout);
    }

    private async ValueTask FlushAsync()
    {
        if (_writer.UnflushedBytes == 0)
        {
            return;
        }

        ArmTimeout(_options.CommandTimeout);
        await _writer.FlushAsync(_ioTimeout.Token).ConfigureAwait(false);
    }

    private async ValueTask TryFlushAsync()
    {
        try
        {
            await FlushAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Saying goodbye is best effort.
        }
    }

    private static PipeReader CreateReader(Stream stream) =>
        PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: ReadBufferSize, minimumReadSize: 1024, leaveOpen: true));

    private static PipeWriter CreateWriter(Stream stream) =>
        PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));

    /// <summary>Releases everything; never throws (the peer may have broken the connection already).</summary>
    public async ValueTask DisposeAsync()
    {
        await _abortRegistration.DisposeAsync().ConfigureAwait(false);
        // Close the transport first: completing a writer that still holds bytes would try to send them,
        // and a peer that stopped reading could block that forever. Every reply that matters was flushed.
        try
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or AuthenticationException)
        {
            // Closing a connection the peer already broke.
        }

        _socket.Dispose();
        try
        {
            await _reader.CompleteAsync().ConfigureAwait(false);
            await _writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Unsent bytes of a dead connection.
        }

        _ioTimeout.Dispose();
        _data.Dispose();
    }
}
