using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using ManycoreMail.Smtp.Internal;

namespace ManycoreMail.Benchmarks;

/// <summary>
/// The byte work of the SMTP server's command handling: framing lines off the receive buffer, splitting the verb,
/// and parsing the reverse and forward paths with their ESMTP parameters, for one pipelined transaction (RFC 2920)
/// of one MAIL, ten RCPT and DATA, the way a bulk sender sends it.
/// </summary>
[MemoryDiagnoser]
public class SmtpCommandBenchmarks
{
    private const int Recipients = 10;
    private byte[] _transaction = [];

    [GlobalSetup]
    public void Setup()
    {
        var text = new StringBuilder("MAIL FROM:<bounce-0123456789abcdef@returns.sender.test> SIZE=5000 BODY=8BITMIME\r\n");
        for (var i = 0; i < Recipients; i++)
        {
            text.Append("RCPT TO:<reader").Append(i).Append("@bench.test> NOTIFY=SUCCESS,FAILURE\r\n");
        }
        text.Append("DATA\r\n");
        _transaction = Encoding.ASCII.GetBytes(text.ToString());
        if (ParsePipelinedTransaction() != Recipients + 1)
        {
            throw new InvalidOperationException("The benchmark transaction does not parse.");
        }
    }

    /// <summary>Returns the number of paths parsed (MAIL + RCPTs), so the work cannot be optimised away.</summary>
    [Benchmark]
    public int ParsePipelinedTransaction()
    {
        var buffer = new ReadOnlySequence<byte>(_transaction);
        var paths = 0;
        // Bounded by the buffer: every iteration takes at least one byte off it.
        while (SmtpLineReader.TryReadLine(ref buffer, out var sequence, out _))
        {
            var line = sequence.FirstSpan;
            var space = line.IndexOf((byte)' ');
            var verb = space < 0 ? line : line[..space];
            var args = space < 0 ? [] : line[(space + 1)..].Trim((byte)' ');
            if (System.Text.Ascii.EqualsIgnoreCase(verb, "MAIL"u8))
            {
                paths += ParsePath(args[5..], allowNull: true);
            }
            else if (System.Text.Ascii.EqualsIgnoreCase(verb, "RCPT"u8))
            {
                paths += ParsePath(args[3..], allowNull: false);
            }
        }
        return paths;
    }

    private static int ParsePath(ReadOnlySpan<byte> args, bool allowNull)
    {
        if (SmtpPathParser.Parse(args, allowNull, out _, out var parameters, out _) != PathParseResult.Ok)
        {
            return 0;
        }
        var notify = parameters.IndexOf("NOTIFY="u8);
        if (notify >= 0 && !DsnParameters.TryParseNotify(parameters[(notify + 7)..], out _))
        {
            return 0;
        }
        return 1;
    }
}

/// <summary>
/// DATA as it comes off the wire: the dot-stuffed message and its end marker, fed to the decoder in 4 KB reads
/// (a socket pipe's usual segment), which finds the end, removes the stuffing and checks line ends and limits.
/// One body line in eight starts with a dot, so the unstuffing path is exercised, not only the plain copy.
/// </summary>
[MemoryDiagnoser]
public class SmtpDataBenchmarks
{
    private const int ReadSize = 4096;
    private readonly SmtpDataDecoder _decoder = new();
    private byte[] _wire = [];
    private int _messageLength;

    [Params(5_000, 100_000)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var message = Encoding.ASCII.GetString(Messages.Create(Size));
        var split = message.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4;
        var lines = message[split..].Split("\r\n");
        var body = new StringBuilder();
        for (var i = 0; i < lines.Length - 1; i++)
        {
            body.Append(i % 8 == 0 ? "." : "").Append(lines[i]).Append("\r\n");
        }
        var unstuffed = message[..split] + body;
        var stuffed = unstuffed.Replace("\r\n.", "\r\n..", StringComparison.Ordinal);
        if (stuffed.StartsWith('.'))
        {
            stuffed = "." + stuffed;
        }
        _wire = Encoding.ASCII.GetBytes(stuffed + ".\r\n");
        _messageLength = Encoding.ASCII.GetByteCount(unstuffed);
        var decoded = ReadData();
        if (decoded != _messageLength)
        {
            throw new InvalidOperationException($"The decoder returned {decoded} bytes, not the {_messageLength} of the unstuffed message " +
                $"(bare line break {_decoder.SawBareLineBreak}, too large {_decoder.TooLarge}, line too long {_decoder.LineTooLong}).");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _decoder.Dispose();

    /// <summary>Returns the unstuffed length.</summary>
    [Benchmark]
    public long ReadData()
    {
        _decoder.Begin(maxSize: 50L * 1024 * 1024, maxLineLength: 1000);
        var ended = false;
        for (var offset = 0; offset < _wire.Length && !ended; offset += ReadSize)
        {
            var read = new ReadOnlySequence<byte>(_wire, offset, Math.Min(ReadSize, _wire.Length - offset));
            ended = _decoder.Decode(read, out _);
        }
        if (!ended || _decoder.SawBareLineBreak || _decoder.TooLarge || _decoder.LineTooLong)
        {
            return -1;
        }
        var length = _decoder.Message.Length;
        _decoder.Release();
        return length;
    }
}
