using System.Buffers;
using ManycoreMail.Smtp.Server;

namespace ManycoreMail.Smtp.Internal;

/// <summary>
/// Decodes the DATA section of a transaction (RFC 5321 §4.1.1.4, §4.5.2) from raw wire bytes.
/// </summary>
/// <remarks>
/// The only end of data is CR LF "." CR LF (or "." CR LF as the very first line). A bare CR or a
/// bare LF is never a line end here: it is remembered and the message is refused once the real
/// end arrives. That one rule makes the server immune to SMTP smuggling ("\n.\n", "\r.\r",
/// "\r\n.\n" ...), because no byte sequence another server could read as "end of data" ends
/// data here unless it is the strict one.
/// The decoder is a byte state machine that keeps its state between calls, so the end marker
/// and dot-stuffing are found across any segment or read boundary. Ordinary text is copied in
/// runs between CR/LF bytes, not byte by byte.
/// </remarks>
/// <param name="budget">Shared by the listener's sessions: the memory of the bodies they receive at once.</param>
internal sealed class SmtpDataDecoder(MemoryBudget? budget = null) : IDisposable
{
    private enum State : byte
    {
        /// <summary>At the beginning of a line (after CR LF, or at the start of data).</summary>
        LineStart,
        InLine,
        /// <summary>Saw CR inside a line; LF completes the line end.</summary>
        AfterCr,
        /// <summary>A line began with "."; it is either dot-stuffing or the end marker.</summary>
        LineStartDot,
        LineStartDotCr,
    }

    private readonly PooledBody _body = new(budget);
    private State _state;
    private long _size;
    private int _lineLength;
    private long _maxSize;
    private int _maxLineLength;
    private bool _chunked;

    /// <summary>A CR not followed by LF, or an LF not preceded by CR, was seen.</summary>
    public bool SawBareLineBreak { get; private set; }

    /// <summary>The unstuffed message exceeded the size limit; its bytes were dropped.</summary>
    public bool TooLarge { get; private set; }

    /// <summary>A line exceeded the line limit (counted with its CR LF).</summary>
    public bool LineTooLong { get; private set; }

    /// <summary>The listener's memory budget for bodies ran out while this one was arriving; its bytes were
    /// dropped (the client is told to retry later).</summary>
    public bool OverBudget { get; private set; }

    /// <summary>Unstuffed size seen so far (counted even after the content was dropped).</summary>
    public long Size => _size;

    private bool Keeping => !TooLarge && !SawBareLineBreak && !LineTooLong && !OverBudget;

    /// <summary>Starts a message. <paramref name="chunked"/>: the content comes in BDAT chunks (RFC 3030), which
    /// carry the message as it is: no dot-stuffing and no end marker, but the same bare CR/LF and limit checks,
    /// so a message we later relay with DATA cannot smuggle an end of data either.</summary>
    public void Begin(long maxSize, int maxLineLength, bool chunked = false)
    {
        _chunked = chunked;
        _body.Clear();
        _state = State.LineStart;
        _size = 0;
        _lineLength = 0;
        _maxSize = maxSize;
        _maxLineLength = maxLineLength;
        SawBareLineBreak = false;
        TooLarge = false;
        LineTooLong = false;
        OverBudget = false;
    }

    /// <summary>The unstuffed message (CR LF line ends); valid until <see cref="Begin"/> or <see cref="Release"/>.</summary>
    public ReadOnlySequence<byte> Message => _body.ToSequence();

    public void Release() => _body.Clear();

    /// <summary>Feeds the content of one BDAT chunk (all of it is message).</summary>
    public void DecodeChunk(in ReadOnlySequence<byte> chunk)
    {
        foreach (var memory in chunk)
        {
            Decode(memory.Span, out _);
        }
    }

    /// <summary>After the LAST chunk: a CR that nothing followed was bare.</summary>
    public void EndChunks()
    {
        if (_state == State.AfterCr)
        {
            SawBareLineBreak = true;
        }
    }

    /// <summary>Feeds wire bytes. Returns true when the end of data was found; <paramref name="end"/>
    /// is then the position just after it, else the end of <paramref name="input"/> (all consumed).</summary>
    public bool Decode(in ReadOnlySequence<byte> input, out SequencePosition end)
    {
        var segmentStart = input.Start;
        var next = input.Start;
        while (input.TryGet(ref next, out var memory))
        {
            if (Decode(memory.Span, out var consumed))
            {
                end = input.GetPosition(consumed, segmentStart);
                return true;
            }

            segmentStart = next;
        }

        end = input.End;
        return false;
    }

    internal bool Decode(ReadOnlySpan<byte> input, out int consumed)
    {
        var i = 0;
        while (i < input.Length)
        {
            switch (_state)
            {
                case State.InLine:
                {
                    var rest = input[i..];
                    var stop = rest.IndexOfAny((byte)'\r', (byte)'\n');
                    if (stop < 0)
                    {
                        EmitText(rest);
                        i = input.Length;
                        break;
                    }

                    EmitText(rest[..stop]);
                    i += stop;
                    if (input[i] == (byte)'\r')
                    {
                        _state = State.AfterCr;
                    }
                    else
                    {
                        SawBareLineBreak = true;
                        EmitText("\n"u8);
                    }

                    i++;
                    break;
                }

                case State.AfterCr:
                    if (input[i] == (byte)'\n')
                    {
                        EmitLineEnd();
                        _state = State.LineStart;
                        i++;
                    }
                    else
                    {
                        // The CR was bare; the current byte is ordinary line content (not consumed here).
                        SawBareLineBreak = true;
                        EmitText("\r"u8);
                        _state = State.InLine;
                    }

                    break;

                case State.LineStart:
                    if (input[i] == (byte)'.' && !_chunked)
                    {
                        _state = State.LineStartDot;
                        i++;
                    }
                    else
                    {
                        _state = State.InLine;
                    }

                    break;

                case State.LineStartDot:
                    if (input[i] == (byte)'\r')
                    {
                        _state = State.LineStartDotCr;
                        i++;
                    }
                    else
                    {
                        // Dot-stuffing: the leading dot of a non-empty line is dropped ("..x" → ".x").
                        _state = State.InLine;
                    }

                    break;

                case State.LineStartDotCr:
                    if (input[i] == (byte)'\n')
                    {
                        consumed = i + 1;
                        _state = State.LineStart;
                        return true;
                    }

                    // "." CR <other>: the dot was stuffing, the CR is bare.
                    SawBareLineBreak = true;
                    EmitText("\r"u8);
                    _state = State.InLine;
                    break;
            }
        }

        consumed = input.Length;
        return false;
    }

    private void EmitText(ReadOnlySpan<byte> text)
    {
        _lineLength += text.Length;
        // The limit counts the line with its CR LF.
        if (_lineLength > _maxLineLength - 2)
        {
            LineTooLong = true;
        }

        Count(text);
    }

    private void EmitLineEnd()
    {
        _lineLength = 0;
        Count("\r\n"u8);
    }

    private void Count(ReadOnlySpan<byte> bytes)
    {
        _size += bytes.Length;
        if (_size > _maxSize && !TooLarge)
        {
            TooLarge = true;
        }

        if (Keeping)
        {
            OverBudget = !_body.Append(bytes);
        }

        if (!Keeping && _body.Length > 0)
        {
            // The message will be refused: give the memory back now instead of at the end.
            _body.Clear();
        }
    }

    public void Dispose() => _body.Dispose();
}
