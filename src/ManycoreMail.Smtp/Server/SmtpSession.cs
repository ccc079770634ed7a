using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Text;
using System.Text.Unicode;
using ManycoreMail.Smtp.Internal;
using ManycoreMail.Smtp.Server.Grammar;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Smtp.Server;

/// <summary>
/// One SMTP conversation: a read loop over a <see cref="PipeReader"/> that takes whole lines off the
/// buffer, answers each in order into a <see cref="PipeWriter"/>, and flushes when the buffer holds
/// no further complete command (so a pipelined group gets one write back).
/// </summary>
/// <remarks>
/// Works on any duplex <see cref="Stream"/> (a socket in production, an in-memory pipe in the fuzz test).
/// Commands are parsed as spans over the pipe's buffers; strings are made only for what the handler
/// receives (paths, user names). Message content goes through <see cref="SmtpDataDecoder"/> into pooled
/// arrays that the handler sees as one <see cref="ReadOnlySequence{T}"/>; it is never joined into one block.
/// </remarks>
internal sealed class SmtpSession : IAsyncDisposable
{
    /// <summary>RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with its CR LF.</summary>
    private const int MaxCommandLine = 512;
    /// <summary>RFC 3461 §5 lets DSN parameters lengthen MAIL and RCPT (ENVID 100, ORCPT 500 octets).</summary>
    private const int MaxDsnCommandLine = 512 + 100 + 500 + 64;
    /// <summary>RFC 4954 §4: AUTH command and response lines may be up to 12288 octets.</summary>
    private const int MaxAuthLine = 12288;
    private const int ReadBufferSize = 8 * 1024;
    /// <summary>What a new body needs free in the listener's budget before its content is read: its first array.</summary>
    private const int MinimumReceivingBytes = 4 * 1024;
    /// <summary>How long a parting "421" may take to reach a peer before we close anyway.</summary>
    private static readonly TimeSpan GoodbyeTimeout = TimeSpan.FromSeconds(2);

    private readonly Stream _transport;
    private readonly SmtpServerOptions _options;
    private readonly ISmtpHandler _handler;
    private readonly ILogger _logger;
    private readonly SessionLimiter? _limiter;
    private readonly CancellationToken _stopping;
    private readonly CancellationToken _aborted;
    private readonly MemoryBudget? _receiving;
    private readonly SmtpDataDecoder _data;
    private readonly List<SmtpRecipient> _recipients = [];
    private readonly long _startedAt = Stopwatch.GetTimestamp();

    private SmtpSessionInfo _info;
    private Stream _stream;
    private PipeReader _reader;
    private PipeWriter _writer;
    /// <summary>Linked to the abort token, so reaching the stop deadline cancels whatever I/O is pending.</summary>
    private CancellationTokenSource _ioTimeout;

    private InputMode _mode;
    private bool _discardingLongLine;
    private bool _greeted;
    private bool _extended;
    private string? _reversePath;
    private SmtpMailParameters _mailParameters = SmtpMailParameters.None;
    private bool _recipientAttempted;
    private int _errors;
    private int _authFailures;

    /// <summary>What the armed read timeout stands for, so its firing can be answered for what it is.</summary>
    private ReadLimit _armedLimit;
    /// <summary>Bytes left in the reader after the last exchange: what a read returns beyond them is new.</summary>
    private long _carried;
    private long _rateWindowStart;
    private long _rateWindowBytes;

    private readonly SaslExchange _sasl = new();
    /// <summary>BDAT's state: the chunk being read, and whether the transaction's content comes in chunks.</summary>
    private readonly BdatChunks _chunks = new();

    private enum InputMode : byte
    {
        Command,
        Data,
        /// <summary>Reading the octets of a BDAT chunk (counted, never parsed as commands).</summary>
        Chunk,
        /// <summary>Reading the client's next AUTH response line (<see cref="_sasl"/>).</summary>
        AuthResponse,
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
        /// <summary>DATA, or a transaction's first BDAT, waiting for <see cref="SmtpServerOptions.InFlow"/>.</summary>
        Admit,
    }

    /// <summary>Which limit a read may run into first.</summary>
    private enum ReadLimit : byte
    {
        /// <summary>The command or data timeout: the client went quiet.</summary>
        Idle,
        /// <summary><see cref="SmtpServerOptions.MaxSessionLifetime"/>.</summary>
        SessionLifetime,
        /// <summary><see cref="SmtpServerOptions.MinDataRate"/> in the current window.</summary>
        DataRate,
    }

    private enum CommandClass : byte
    {
        Other,
        Auth,
        MailOrRcpt,
    }

    /// <summary>Work for the handler that a synchronous (span-based) parse step hands to the async loop.</summary>
    private readonly record struct Pending(
        PendingKind Kind, string First = "", string Second = "", SmtpMailParameters? Mail = null, SmtpRecipient? Recipient = null,
        BdatCommand? Chunk = null);

    /// <summary>A BDAT command whose content is not read yet.</summary>
    private readonly record struct BdatCommand(long Size, bool Last);

    public SmtpSession(Stream transport, IPEndPoint remote, IPEndPoint local, SmtpServerOptions options, ISmtpHandler handler,
        ILogger logger, SessionLimiter? limiter, CancellationToken stopping, CancellationToken aborted, MemoryBudget? receiving = null)
    {
        _transport = transport;
        _receiving = receiving;
        _data = new SmtpDataDecoder(receiving);
        _options = options;
        _handler = handler;
        _logger = logger;
        _limiter = limiter;
        _stopping = stopping;
        _aborted = aborted;
        _info = new SmtpSessionInfo
        {
            RemoteEndPoint = remote,
            LocalEndPoint = local,
            IsTrusted = IsTrusted(remote.Address, options.TrustedNetworks),
        };
        _stream = transport;
        _reader = CreateReader(_stream);
        _writer = CreateWriter(TranscriptOf(_stream));
        _ioTimeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
    }

    internal SmtpSessionInfo Info => _info;

    private bool InTransaction => _reversePath is not null || _mode is InputMode.Data or InputMode.Chunk;

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
        // The client the session is counted under: the TCP peer until a PROXY header names the real one.
        IPAddress? counted = null;
        try
        {
            var peer = _info.RemoteEndPoint;
            if (_options.ProxyProtocol && !IsTrusted(peer.Address, _options.ProxyProtocolFrom))
            {
                // Not one of our load balancers: its header would be a claim nobody vouches for.
                SmtpSessionLog.ProxyPeerRefused(_logger, peer);
                return;
            }

            // Limits apply to the TCP peer before any header is read, so a peer that connects and says nothing
            // holds at most its share of sessions, and only until the header timeout.
            if (_limiter is not null)
            {
                var admission = _limiter.TryEnter(peer.Address);
                if (admission != SessionAdmission.Admitted)
                {
                    await RefuseAsync(admission).ConfigureAwait(false);
                    return;
                }

                counted = peer.Address;
            }

            if (_options.ProxyProtocol)
            {
                if (!await ReadProxyHeaderAsync().ConfigureAwait(false))
                {
                    SmtpSessionLog.SessionEnded(_logger, _info.RemoteEndPoint, "no valid PROXY protocol header");
                    return;
                }

                if (counted is not null)
                {
                    // From now on the session counts for the client behind the load balancer.
                    var admission = _limiter!.TryMove(counted, _info.RemoteEndPoint.Address);
                    if (admission != SessionAdmission.Admitted)
                    {
                        await RefuseAsync(admission).ConfigureAwait(false);
                        return;
                    }

                    counted = _info.RemoteEndPoint.Address;
                }
            }

            var reason = await ConverseAsync().ConfigureAwait(false);
            SmtpSessionLog.SessionEnded(_logger, _info.RemoteEndPoint, reason);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or AuthenticationException)
        {
            SmtpSessionLog.SessionIoError(_logger, _info.RemoteEndPoint, e);
        }
        catch (Exception e)
        {
            // A bug in the session must cost one connection, never the server.
            SmtpSessionLog.SessionFailed(_logger, _info.RemoteEndPoint, e);
        }
        finally
        {
            if (counted is not null)
            {
                _limiter!.Leave(counted);
            }
        }
    }

    private async Task RefuseAsync(SessionAdmission admission)
    {
        _writer.Write(admission == SessionAdmission.TooManySessions
            ? "421 4.7.0 Too many connections, try again later\r\n"u8
            : "421 4.7.0 Too many connections from your address, try again later\r\n"u8);
        await TryFlushBrieflyAsync().ConfigureAwait(false);
        SmtpSessionLog.SessionEnded(_logger, _info.RemoteEndPoint, admission.ToString());
    }

    /// <summary>Reads the PROXY protocol header and adopts the client address it carries.</summary>
    private async Task<bool> ReadProxyHeaderAsync()
    {
        ArmTimeout(_options.ProxyHeaderTimeout < _options.CommandTimeout ? _options.ProxyHeaderTimeout : _options.CommandTimeout);
        // Bounded: the parser declares the header invalid once more bytes arrived than any header can have.
        while (true)
        {
            ReadResult result;
            try
            {
                result = await _reader.ReadAsync(_ioTimeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return false;
            }

            var buffer = result.Buffer;
            var status = ProxyProtocolParser.TryParse(buffer, out var header, out var consumed);
            if (status == ProxyParseStatus.Done)
            {
                _reader.AdvanceTo(buffer.GetPosition(consumed));
                var proxy = _info.RemoteEndPoint;
                var remote = header.Source ?? proxy;
                _info = new SmtpSessionInfo
                {
                    RemoteEndPoint = remote,
                    LocalEndPoint = header.Destination ?? _info.LocalEndPoint,
                    IsTrusted = IsTrusted(remote.Address, _options.TrustedNetworks),
                    ProxyEndPoint = proxy,
                };
                return true;
            }

            if (status == ProxyParseStatus.Invalid || result.IsCompleted)
            {
                _reader.AdvanceTo(buffer.End);
                return false;
            }

            _reader.AdvanceTo(buffer.Start, buffer.End);
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

            try
            {
                var (ended, reason) = await ExchangeAsync().ConfigureAwait(false);
                if (ended)
                {
                    return reason;
                }
            }
            catch (OperationCanceledException) when (_aborted.IsCancellationRequested)
            {
                // The stop deadline passed in the middle of a transaction: it was not acknowledged, so the
                // client still owns the message and will retry elsewhere or later.
                _writer.Write("421 4.3.2 Service shutting down\r\n"u8);
                await TryFlushBrieflyAsync().ConfigureAwait(false);
                return "server stopped at its deadline";
            }
        }
    }

    /// <summary>One read, the answers to everything it completed, one flush.</summary>
    // Runs once per command, and mostly waits for the client: a pooled state machine instead of one per command.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<(bool Ended, string Reason)> ExchangeAsync()
    {
        ReadResult result;
        var receivingContent = _mode is InputMode.Data or InputMode.Chunk;
        var (timeout, limit) = NextReadDeadline(receivingContent);
        if (timeout <= TimeSpan.Zero)
        {
            return await CloseAtLimitAsync(limit).ConfigureAwait(false);
        }

        ArmTimeout(timeout);
        _armedLimit = limit;
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
            if (!stopping && _armedLimit != ReadLimit.Idle)
            {
                return await CloseAtLimitAsync(_armedLimit).ConfigureAwait(false);
            }

            _writer.Write(stopping ? "421 4.3.2 Service shutting down\r\n"u8 : "421 4.4.2 Timeout waiting for input, closing connection\r\n"u8);
            await TryFlushBrieflyAsync().ConfigureAwait(false);
            return (true, stopping ? "server stopping" : "timeout");
        }
        finally
        {
            await stopRegistration.DisposeAsync().ConfigureAwait(false);
        }

        var buffer = result.Buffer;
        if (receivingContent)
        {
            CountContent(buffer.Length - _carried);
        }

        var (consumed, next) = await ProcessAsync(buffer).ConfigureAwait(false);
        _carried = buffer.Slice(consumed).Length;
        _reader.AdvanceTo(consumed, buffer.End);

        switch (next)
        {
            case Next.Close:
                await FlushAsync().ConfigureAwait(false);
                return (true, "closed");
            case Next.StartTls:
                return await UpgradeToTlsAsync().ConfigureAwait(false) ? (false, "") : (true, "TLS handshake failed");
        }

        await FlushAsync().ConfigureAwait(false);
        return result.IsCompleted ? (true, "client closed the connection") : (false, "");
    }

    /// <summary>How long the next read may wait, and the limit that deadline stands for: the idle timeout, unless
    /// the session's lifetime or the data-rate window ends sooner.</summary>
    private (TimeSpan Timeout, ReadLimit Limit) NextReadDeadline(bool receivingContent)
    {
        var now = Stopwatch.GetTimestamp();
        var timeout = receivingContent ? _options.DataTimeout : _options.CommandTimeout;
        var limit = ReadLimit.Idle;
        var lifetimeLeft = _options.MaxSessionLifetime - Stopwatch.GetElapsedTime(_startedAt, now);
        if (lifetimeLeft < timeout)
        {
            timeout = lifetimeLeft;
            limit = ReadLimit.SessionLifetime;
        }

        if (receivingContent && _options.MinDataRate > 0)
        {
            var windowLeft = _options.DataRateWindow - Stopwatch.GetElapsedTime(_rateWindowStart, now);
            if (windowLeft < timeout)
            {
                timeout = windowLeft;
                limit = ReadLimit.DataRate;
            }
        }

        return (timeout, limit);
    }

    /// <summary>Starts measuring the data rate (at DATA, and at each BDAT chunk).</summary>
    private void StartRateWindow()
    {
        _rateWindowStart = Stopwatch.GetTimestamp();
        _rateWindowBytes = 0;
    }

    /// <summary>Counts content bytes; a window that brought its quota is done, and the next begins now.</summary>
    private void CountContent(long bytes)
    {
        _rateWindowBytes += bytes;
        if (_options.MinDataRate > 0 && _rateWindowBytes >= _options.MinDataRate * _options.DataRateWindow.TotalSeconds)
        {
            StartRateWindow();
        }
    }

    private async ValueTask<(bool Ended, string Reason)> CloseAtLimitAsync(ReadLimit limit)
    {
        var reason = limit == ReadLimit.DataRate ? "data rate below the minimum" : "session lifetime exceeded";
        _writer.Write(limit == ReadLimit.DataRate
            ? "421 4.4.2 Data rate too low, closing connection\r\n"u8
            : "421 4.4.2 Session time limit exceeded, closing connection\r\n"u8);
        await TryFlushBrieflyAsync().ConfigureAwait(false);
        SmtpSessionLog.LimitReached(_logger, _info.RemoteEndPoint, reason);
        return (true, reason);
    }

    /// <summary>Answers everything complete in <paramref name="buffer"/>. Returns how far it was consumed.</summary>
    private async ValueTask<(SequencePosition Consumed, Next Next)> ProcessAsync(ReadOnlySequence<byte> buffer)
    {
        // Bounded by the buffer: every pass consumes at least one line, chunk or the rest of the data.
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

            if (_mode == InputMode.Chunk)
            {
                var take = _chunks.Take(buffer.Length);
                if (_chunks.Refusal == ChunkRefusal.None)
                {
                    _data.DecodeChunk(buffer.Slice(0, take));
                }

                buffer = buffer.Slice(take);
                if (_chunks.Remaining > 0)
                {
                    return (buffer.End, Next.Continue);
                }

                _mode = InputMode.Command;
                var afterChunk = await CompleteChunkAsync().ConfigureAwait(false);
                if (afterChunk != Next.Continue)
                {
                    return (buffer.Start, afterChunk);
                }

                continue;
            }

            var limit = _mode != InputMode.Command ? MaxAuthLine : Classify(buffer) switch
            {
                CommandClass.Auth => MaxAuthLine,
                CommandClass.MailOrRcpt when _options.Dsn => MaxDsnCommandLine,
                _ => MaxCommandLine,
            };
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

    private static CommandClass Classify(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < 5)
        {
            return CommandClass.Other;
        }

        Span<byte> head = stackalloc byte[5];
        buffer.Slice(0, 5).CopyTo(head);
        if (Ascii.EqualsIgnoreCase(head, "AUTH "u8))
        {
            return CommandClass.Auth;
        }

        return Ascii.EqualsIgnoreCase(head, "MAIL "u8) || Ascii.EqualsIgnoreCase(head, "RCPT "u8)
            ? CommandClass.MailOrRcpt
            : CommandClass.Other;
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
        SmtpTranscript.Command(_logger, _info.RemoteEndPoint, line, authResponse: _mode != InputMode.Command);
        if (_mode == InputMode.AuthResponse)
        {
            _mode = InputMode.Command;
            return AuthStep(_sasl.Respond(line), out pending);
        }

        var space = line.IndexOf((byte)' ');
        var verb = space < 0 ? line : line[..space];
        var args = space < 0 ? [] : line[(space + 1)..].Trim((byte)' ');

        if (verb.Length == 4)
        {
            if (Ascii.EqualsIgnoreCase(verb, "MAIL"u8)) return Mail(args, out pending);
            if (Ascii.EqualsIgnoreCase(verb, "RCPT"u8)) return Rcpt(args, out pending);
            if (Ascii.EqualsIgnoreCase(verb, "DATA"u8)) return Data(args, out pending);
            if (Ascii.EqualsIgnoreCase(verb, "BDAT"u8) && _options.Chunking) return Bdat(args, out pending);
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
                return Reply("214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH\r\n"u8);
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
        // RFC 6531 §3.7.1 lets an SMTPUTF8 client name itself with U-labels: valid UTF-8, never controls or spaces.
        var utf8Allowed = _options.Smtputf8 && extended;
        if (args.IsEmpty || args.IndexOfAnyInRange((byte)0, (byte)0x20) >= 0 || args.Contains((byte)0x7F)
            || (args.ContainsAnyExceptInRange((byte)0x21, (byte)0x7E) && !(utf8Allowed && Utf8.IsValid(args))))
        {
            return Error(extended ? "501 5.5.4 Syntax: EHLO hostname\r\n"u8 : "501 5.5.4 Syntax: HELO hostname\r\n"u8);
        }

        // RFC 5321 §4.1.4: EHLO/HELO implies RSET.
        ResetTransaction();
        _greeted = true;
        _extended = extended;
        _info.HeloName = Encoding.UTF8.GetString(args);

        // RFC 2034 §3: no enhanced status codes in the reply to EHLO/HELO.
        if (!extended)
        {
            SmtpReplyWriter.WriteLine(_writer, 250, last: true, null, _options.ServerName);
            return Next.Continue;
        }

        EhloKeywords.Write(_writer, new EhloOffer(_options.ServerName, _options.MaxMessageSize,
            StartTls: !_info.IsTls && _options.CertificateProvider() is not null, Auth: AuthAllowedHere,
            _options.Smtputf8, _options.Chunking, _options.Dsn));
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

        if (_stopping.IsCancellationRequested)
        {
            // Shutting down: no new transaction begins (those under way may finish).
            _writer.Write("421 4.3.2 Service shutting down\r\n"u8);
            return Next.Close;
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

        switch (SmtpPathParser.Parse(args[5..], allowNull: true, out var reversePath, out var parameters, out var utf8Address))
        {
            case PathParseResult.Syntax:
                return Error("501 5.5.4 Syntax: MAIL FROM:<address>\r\n"u8);
            case PathParseResult.BadAddress:
                return Error("501 5.1.7 Bad sender address syntax\r\n"u8);
        }

        var error = MailParameterParser.Parse(parameters, Policy, out var mail);
        if (error != ParameterError.None)
        {
            var reply = ParameterReplies.For(error, rcpt: false);
            // SIZE over the limit refuses the message; it is no protocol error.
            return error == ParameterError.TooLarge ? Reply(reply) : Error(reply);
        }

        if (utf8Address && !mail.Utf8)
        {
            return Error("553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter\r\n"u8);
        }

        pending = new Pending(PendingKind.MailFrom, reversePath, Mail: mail);
        return Next.Continue;
    }

    private ParameterPolicy Policy => new(_options.Smtputf8, _options.Dsn, _options.AuthEnabled, _options.MaxMessageSize);

    private Next Rcpt(ReadOnlySpan<byte> args, out Pending pending)
    {
        pending = default;
        if (_reversePath is null)
        {
            return Error("503 5.5.1 Need MAIL command\r\n"u8);
        }

        if (_chunks.Chunking)
        {
            return Error("503 5.5.1 RCPT not allowed after BDAT\r\n"u8);
        }

        if (args.Length < 3 || !Ascii.EqualsIgnoreCase(args[..3], "TO:"u8))
        {
            return Error("501 5.5.4 Syntax: RCPT TO:<address>\r\n"u8);
        }

        _recipientAttempted = true;
        switch (SmtpPathParser.Parse(args[3..], allowNull: false, out var forwardPath, out var parameters, out var utf8Address))
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

        if (utf8Address && !_mailParameters.Utf8)
        {
            return Error("553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter\r\n"u8);
        }

        var error = RcptParameterParser.Parse(parameters, Policy, _mailParameters.Utf8, out var dsn);
        if (error != ParameterError.None)
        {
            return Error(ParameterReplies.For(error, rcpt: true));
        }

        if (_recipients.Count >= _options.MaxRecipients)
        {
            return Reply("452 4.5.3 Too many recipients\r\n"u8);
        }

        pending = new Pending(PendingKind.RcptTo, forwardPath, Recipient: new SmtpRecipient(forwardPath, dsn.Notify, dsn.OriginalRecipientType, dsn.OriginalRecipient));
        return Next.Continue;
    }

    private Next Data(ReadOnlySpan<byte> args, out Pending pending)
    {
        pending = default;
        if (_reversePath is null)
        {
            return Error("503 5.5.1 Need MAIL command\r\n"u8);
        }

        if (_chunks.Chunking)
        {
            // RFC 3030 §2: DATA and BDAT may not be mixed in one transaction.
            return Error("503 5.5.1 DATA not allowed after BDAT\r\n"u8);
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

        if (_options.InFlow is not null)
        {
            pending = new Pending(PendingKind.Admit);
            return Next.Continue;
        }

        return BeginData();
    }

    /// <summary>The rest of DATA once the message may come in: the 354, or 452 when memory is short.</summary>
    private Next BeginData()
    {
        if (!HasRoomToReceive())
        {
            return Reply("452 4.3.1 Insufficient system storage, try again later\r\n"u8);
        }

        _data.Begin(_options.MaxMessageSize, _options.MaxDataLineLength);
        StartRateWindow();
        _mode = InputMode.Data;
        return Reply("354 End data with <CR><LF>.<CR><LF>\r\n"u8);
    }

    /// <summary>RFC 3030: "BDAT" SP chunk-size [SP "LAST"]. The reply comes once the chunk's octets are read.</summary>
    private Next Bdat(ReadOnlySpan<byte> args, out Pending pending)
    {
        pending = default;
        if (!BdatChunks.TryParse(args, out var size, out var last))
        {
            // Without a size we cannot know where the chunk ends: what follows is read as commands, which
            // is safe because only this client's own (already refused) bytes are at stake.
            return Error("501 5.5.4 Syntax: BDAT chunk-size [LAST]\r\n"u8);
        }

        var refusal = BdatChunks.RefusalFor(_reversePath is not null, _recipients.Count, _recipientAttempted);
        if (refusal == ChunkRefusal.None && !_chunks.Chunking && _options.InFlow is not null)
        {
            // The chunk's octets stay unread (in the socket) until the message may come in.
            pending = new Pending(PendingKind.Admit, Chunk: new BdatCommand(size, last));
            return Next.Continue;
        }

        return BeginChunk(size, last, refusal);
    }

    /// <summary>Starts reading a chunk's octets; the first chunk of a transaction starts the body if memory allows.</summary>
    private Next BeginChunk(long size, bool last, ChunkRefusal refusal)
    {
        if (refusal == ChunkRefusal.None && !_chunks.Chunking)
        {
            if (!HasRoomToReceive())
            {
                // The chunk's octets are skipped, and the transaction is over (RFC 3030 §2: a failed BDAT
                // leaves it to RSET; later chunks find no MAIL).
                refusal = ChunkRefusal.NoMemory;
            }
            else
            {
                _data.Begin(_options.MaxMessageSize, _options.MaxDataLineLength, chunked: true);
            }
        }

        _chunks.Begin(size, last, refusal);
        StartRateWindow();
        _mode = InputMode.Chunk;
        return Next.Continue;
    }

    /// <summary>Whether a new body may start: the listener's bodies in progress leave room for at least its
    /// first buffer (and for the SIZE it declared, when it did).</summary>
    private bool HasRoomToReceive()
    {
        if (_receiving is null)
        {
            return true;
        }

        var needed = Math.Max(MinimumReceivingBytes, _mailParameters.DeclaredSize ?? 0);
        return _receiving.Capacity - _receiving.Used >= needed;
    }

    private async ValueTask<Next> CompleteChunkAsync()
    {
        switch (_chunks.Refusal)
        {
            case ChunkRefusal.NeedMail:
                return Error("503 5.5.1 Need MAIL command\r\n"u8);
            case ChunkRefusal.NeedRcpt:
                return Error("503 5.5.1 Need RCPT command\r\n"u8);
            case ChunkRefusal.NoValidRecipients:
                return Reply("554 5.5.1 No valid recipients\r\n"u8);
            case ChunkRefusal.NoMemory:
                ResetTransaction();
                return Reply("452 4.3.1 Insufficient system storage, try again later\r\n"u8);
        }

        if (_data.OverBudget)
        {
            _data.Release();
            ResetTransaction();
            return Reply("452 4.3.1 Insufficient system storage, try again later\r\n"u8);
        }

        if (_data.TooLarge)
        {
            // The transaction is over; later chunks of it get 503 and are skipped.
            _data.Release();
            ResetTransaction();
            return Reply("552 5.3.4 Message size exceeds fixed maximum message size\r\n"u8);
        }

        if (!_chunks.Last)
        {
            _chunks.WriteReceived(_writer);
            return Next.Continue;
        }

        _data.EndChunks();
        var reply = await CompleteMessageAsync().ConfigureAwait(false);
        return reply.Code == 421 ? Next.Close : Next.Continue;
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

        return AuthStep(_sasl.Start(args), out pending);
    }

    /// <summary>Answers one step of an AUTH exchange; complete credentials become work for the handler.</summary>
    private Next AuthStep(in SaslStep step, out Pending pending)
    {
        pending = default;
        switch (step.Outcome)
        {
            case SaslOutcome.AskResponse:
                _mode = InputMode.AuthResponse;
                return Reply("334 \r\n"u8);
            case SaslOutcome.AskUser:
                _mode = InputMode.AuthResponse;
                return Reply("334 VXNlcm5hbWU6\r\n"u8);
            case SaslOutcome.AskPassword:
                _mode = InputMode.AuthResponse;
                return Reply("334 UGFzc3dvcmQ6\r\n"u8);
            case SaslOutcome.Credentials:
                pending = new Pending(PendingKind.Authenticate, step.User, step.Password);
                return Next.Continue;
            case SaslOutcome.Cancelled:
                return Error("501 5.0.0 Authentication cancelled\r\n"u8);
            case SaslOutcome.Malformed:
                return Error("501 5.5.2 Cannot decode response\r\n"u8);
            default:
                return Error("504 5.5.4 Unrecognized authentication type\r\n"u8);
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
                    _mailParameters = pending.Mail ?? SmtpMailParameters.None;
                }

                return Relay(reply);
            }

            case PendingKind.RcptTo:
            {
                var reply = await AskHandlerAsync(pending, envelope: null, message: default).ConfigureAwait(false);
                if (reply.IsPositive)
                {
                    _recipients.Add(pending.Recipient!);
                }

                return Relay(reply);
            }

            case PendingKind.Authenticate:
                return await AuthenticateAsync(pending.First, pending.Second).ConfigureAwait(false);
            case PendingKind.Admit:
                await _options.InFlow!.WaitAsync(_aborted).ConfigureAwait(false);
                return pending.Chunk is { } chunk ? BeginChunk(chunk.Size, chunk.Last, ChunkRefusal.None) : BeginData();
            default:
                return Next.Continue;
        }
    }

    private async ValueTask<Next> AuthenticateAsync(string user, string password)
    {
        var client = _info.RemoteEndPoint.Address;
        if (_options.AuthThrottle?.CheckAttempt(client) is { } wait)
        {
            // Refused unchecked: answering "right" or "wrong" now would let the guessing go on.
            var seconds = (long)Math.Ceiling(wait.TotalSeconds);
            return await AuthFailedAsync(new SmtpReply(454, "4.7.0",
                $"Too many failed logins from your address, try again in {seconds} seconds")).ConfigureAwait(false);
        }

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

        _options.AuthThrottle?.RecordFailure(client);
        return await AuthFailedAsync(InvalidCredentials).ConfigureAwait(false);
    }

    /// <summary>A failed or refused AUTH: counts toward the session's limit, waits, then answers.</summary>
    private async ValueTask<Next> AuthFailedAsync(SmtpReply reply)
    {
        _authFailures++;
        SmtpSessionLog.AuthFailed(_logger, _info.RemoteEndPoint, _authFailures);
        // Slows down guessing, more with every failure; product behaviour, not synchronisation.
        if (_options.AuthFailureDelay > TimeSpan.Zero)
        {
            await Task.Delay(_options.AuthFailureDelay * _authFailures, _aborted).ConfigureAwait(false);
        }

        SmtpReplyWriter.Write(_writer, reply);
        if (_authFailures >= _options.MaxAuthFailures)
        {
            _writer.Write("421 4.7.0 Too many failed authentication attempts, closing connection\r\n"u8);
            return Next.Close;
        }

        return CountError();
    }

    private static SmtpReply InvalidCredentials => new(535, "5.7.8", "Authentication credentials invalid");

    private async ValueTask<SmtpReply> CompleteMessageAsync()
    {
        SmtpReply reply;
        try
        {
            if (_data.TooLarge)
            {
                reply = new SmtpReply(552, "5.3.4", "Message size exceeds fixed maximum message size");
            }
            else if (_data.OverBudget)
            {
                reply = new SmtpReply(452, "4.3.1", "Insufficient system storage, try again later");
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
                var addresses = new string[_recipients.Count];
                for (var i = 0; i < addresses.Length; i++)
                {
                    addresses[i] = _recipients[i].Address;
                }

                var envelope = new SmtpEnvelope(_reversePath!, addresses)
                {
                    Mail = _mailParameters,
                    RecipientDetails = [.. _recipients],
                    Chunked = _chunks.Chunking,
                };
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
        return CountError();
    }

    /// <summary>Counts the error whose reply was just written.</summary>
    private Next CountError()
    {
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
        _mailParameters = SmtpMailParameters.None;
        _recipients.Clear();
        _recipientAttempted = false;
        if (_chunks.Chunking)
        {
            // Between chunks (RSET, EHLO): what was received so far is dropped.
            _data.Release();
        }

        _chunks.EndTransaction();
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
        _writer = CreateWriter(TranscriptOf(tls));
        _carried = 0;
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
        // TryReset keeps the link to the abort token (that registration is on the parent, not on this source).
        if (!_ioTimeout.TryReset())
        {
            _ioTimeout.Dispose();
            _ioTimeout = CancellationTokenSource.CreateLinkedTokenSource(_aborted);
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

    /// <summary>Flushes a parting reply within <see cref="GoodbyeTimeout"/>, even after the abort token fired.</summary>
    private async ValueTask TryFlushBrieflyAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(GoodbyeTimeout);
            await _writer.FlushAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // Saying goodbye is best effort.
        }
    }

    /// <summary>Closes the connection under whatever the session is doing (the server's last resort
    /// once the stop deadline and the goodbye grace have both passed).</summary>
    public void Abort()
    {
        try
        {
            _transport.Dispose();
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // Already broken.
        }
    }

    private static PipeReader CreateReader(Stream stream) =>
        PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: ReadBufferSize, minimumReadSize: 1024, leaveOpen: true));

    /// <summary>The stream replies are written to: at trace level one that logs them too.</summary>
    private Stream TranscriptOf(Stream stream) =>
        SmtpTranscript.Enabled(_logger) ? new ReplyTranscriptStream(stream, _logger, _info.RemoteEndPoint) : stream;

    private static PipeWriter CreateWriter(Stream stream) =>
        PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));

    /// <summary>Releases everything; never throws (the peer may have broken the connection already).</summary>
    public async ValueTask DisposeAsync()
    {
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

        Abort();
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
