using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using ManycoreMail.Queue.Redis;

namespace ManycoreMail.Benchmarks;

/// <summary>
/// The Redis wire format both ways: encoding a script call that carries a message (the enqueue), and decoding
/// the reply that hands a message back (the lease: an array of id, message, attempt count and metadata), plus a
/// pipelined burst of small integer replies (acknowledgements).
/// </summary>
[MemoryDiagnoser]
public class RespBenchmarks
{
    private const int PipelinedReplies = 64;
    private const string Meta = "{\"stream\":\"campaign7\",\"p\":0}";
    private readonly RedisScript _enqueue = new("return redis.call('RPUSH', KEYS[1], ARGV[1])");
    private byte[] _message = [];
    private byte[] _leaseReply = [];
    private byte[] _integerReplies = [];

    [Params(5_000, 100_000)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _message = Messages.Create(Size);
        var reply = new List<byte>();
        reply.AddRange(Encoding.ASCII.GetBytes("*4\r\n$32\r\n0123456789abcdef0123456789abcdef\r\n$" + _message.Length + "\r\n"));
        reply.AddRange(_message);
        reply.AddRange(Encoding.ASCII.GetBytes("\r\n:1\r\n$" + Meta.Length + "\r\n" + Meta + "\r\n"));
        _leaseReply = [.. reply];
        var integers = new StringBuilder();
        for (var i = 0; i < PipelinedReplies; i++)
        {
            integers.Append(':').Append(i).Append("\r\n");
        }
        _integerReplies = Encoding.ASCII.GetBytes(integers.ToString());
        if (DecodeLeaseReply() != _message.Length || DecodePipelinedIntegers() != PipelinedReplies * (PipelinedReplies - 1) / 2)
        {
            throw new InvalidOperationException("The benchmark replies do not decode.");
        }
    }

    /// <summary>EVALSHA sha 1 queue-key id message meta: returns the frame length.</summary>
    [Benchmark]
    public int EncodeEnqueue()
    {
        using var request = RespRequest.Script(_enqueue, keyCount: 1, keysAndArguments: 4, sizeHint: _message.Length + 256);
        request.Add("mm:{IB-MAIL-QUEUE-P1}:ready"u8)
            .Add("0123456789abcdef0123456789abcdef"u8)
            .Add(_message)
            .Add(Meta);
        return request.Frame.Length;
    }

    /// <summary>Returns the message length found in the reply.</summary>
    [Benchmark]
    public int DecodeLeaseReply()
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(_leaseReply));
        return RespParser.TryRead(ref reader, out var value) ? value[1].Span.Length : -1;
    }

    /// <summary>Returns the sum of the integers.</summary>
    [Benchmark]
    public long DecodePipelinedIntegers()
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(_integerReplies));
        long sum = 0;
        // Bounded by the buffer: each reply read consumes bytes.
        while (RespParser.TryRead(ref reader, out var value))
        {
            sum += value.Integer;
        }
        return sum;
    }
}
