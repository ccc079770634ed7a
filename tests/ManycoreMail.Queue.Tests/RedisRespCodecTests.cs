using System.Buffers;
using System.Text;
using ManycoreMail.Queue.Redis;

namespace ManycoreMail.Queue.Tests;

public sealed class RedisRespCodecTests
{
    [Fact]
    public void A_request_keeps_its_frame_while_a_send_holds_it_even_after_dispose()
    {
        var request = RespRequest.Create(2).Add("ECHO"u8).Add("kept"u8);
        var expected = request.Frame.ToArray();

        request.Retain();
        request.Dispose();
        Assert.Equal(expected, request.FrameMemory.ToArray());
        Assert.Throws<ObjectDisposedException>(request.Retain);

        request.Release();
        Assert.True(request.Frame.IsEmpty);
    }

    [Fact]
    public void Request_is_an_array_of_bulk_strings()
    {
        using var request = RespRequest.Create(4).Add("SET"u8).Add("kéy").Add(-42).Add("a\r\nb"u8, "c"u8);

        Assert.True(request.IsComplete);
        Assert.Equal("*4\r\n$3\r\nSET\r\n$4\r\nkéy\r\n$3\r\n-42\r\n$5\r\na\r\nbc\r\n", Encoding.UTF8.GetString(request.Frame));
    }

    [Fact]
    public void A_key_of_a_prefix_and_a_number_is_one_argument_with_the_number_in_decimal()
    {
        using var request = RespRequest.Create(3).Add("LLEN"u8).Add("mm:q:Q:body:"u8, 1_234_567_890_123L).Add("x:"u8, -7);

        Assert.Equal("*3\r\n$4\r\nLLEN\r\n$25\r\nmm:q:Q:body:1234567890123\r\n$4\r\nx:-7\r\n", Encoding.ASCII.GetString(request.Frame));
    }

    [Fact]
    public void Request_refuses_more_arguments_than_announced_and_reports_fewer()
    {
        using var request = RespRequest.Create(2).Add("GET"u8);
        Assert.False(request.IsComplete);
        request.Add("k"u8);
        Assert.Throws<InvalidOperationException>(() => request.Add("extra"u8));
    }

    [Fact]
    public void Large_arguments_grow_the_pooled_buffer()
    {
        var big = new byte[300_000];
        Random.Shared.NextBytes(big);
        using var request = RespRequest.Create(2, sizeHint: 16).Add("ECHO"u8).Add(big);

        var frame = request.Frame;
        Assert.Equal(big, frame[^(big.Length + 2)..^2].ToArray());
        Assert.StartsWith("*2\r\n$4\r\nECHO\r\n$300000\r\n", Encoding.ASCII.GetString(frame[..40]));
    }

    [Fact]
    public void Script_request_turns_into_eval_with_the_same_arguments()
    {
        var script = new RedisScript("return KEYS[1]");
        using var request = RespRequest.Script(script, keyCount: 1, keysAndArguments: 2).Add("k"u8).Add("v"u8);
        using var eval = request.ToEval();

        Assert.StartsWith("*5\r\n$7\r\nEVALSHA\r\n$40\r\n", Encoding.ASCII.GetString(request.Frame));
        Assert.Equal("*5\r\n$4\r\nEVAL\r\n$14\r\nreturn KEYS[1]\r\n$1\r\n1\r\n$1\r\nk\r\n$1\r\nv\r\n", Encoding.ASCII.GetString(eval.Frame));
    }

    public static TheoryData<string> Resp2Replies() => new()
    {
        "+OK\r\n",
        "-ERR unknown command\r\n",
        ":-12345\r\n",
        "$5\r\nhello\r\n",
        "$0\r\n\r\n",
        "$-1\r\n",
        "*-1\r\n",
        "*0\r\n",
        "*3\r\n:1\r\n$3\r\nabc\r\n*2\r\n+x\r\n$-1\r\n",
        "$6\r\na\r\nb\r\n\r\n",
    };

    [Theory]
    [MemberData(nameof(Resp2Replies))]
    public void Every_split_of_a_frame_decodes_to_the_same_value(string frame)
    {
        var bytes = Encoding.UTF8.GetBytes(frame);
        var whole = DecodeSingle(new ReadOnlySequence<byte>(bytes));

        for (var cut = 0; cut < bytes.Length; cut++)
        {
            // The prefix alone is incomplete: nothing is consumed.
            var prefix = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, 0, cut));
            Assert.False(RespParser.TryRead(ref prefix, out _));
            Assert.Equal(0, prefix.Consumed);

            // The same bytes in two segments decode like one.
            var split = Segments(bytes[..cut], bytes[cut..]);
            Assert.Equal(Describe(whole), Describe(DecodeSingle(split)));
        }
    }

    [Theory]
    [MemberData(nameof(Resp2Replies))]
    [InlineData("%2\r\n+a\r\n,3.5\r\n+b\r\n~3\r\n#t\r\n#f\r\n_\r\n")]
    [InlineData("*2\r\n=15\r\ntxt:Some string\r\n|1\r\n+key\r\n:1\r\n:9\r\n")]
    [InlineData("*3\r\n|0\r\n$1\r\nx\r\n!3\r\nERR\r\n*0\r\n")]
    public void A_reply_read_one_byte_at_a_time_decodes_to_the_same_value(string frame)
    {
        // What a connection does: each read hands over what is left unconsumed plus the new bytes.
        var bytes = Encoding.UTF8.GetBytes(frame);
        var whole = DecodeSingle(new ReadOnlySequence<byte>(bytes));
        var decoder = new RespDecoder();
        var consumed = 0;
        for (var end = 1; end <= bytes.Length; end++)
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, consumed, end - consumed));
            var done = decoder.TryDecode(ref reader, out var value);
            consumed += (int)reader.Consumed;
            if (done)
            {
                Assert.Equal(bytes.Length, end);
                Assert.Equal(bytes.Length, consumed);
                Assert.Equal(Describe(whole), Describe(value));
                return;
            }
        }
        Assert.Fail("The reply never completed.");
    }

    [Fact]
    public void A_large_reply_arriving_in_small_reads_is_copied_once_and_never_decoded_again()
    {
        // An EXEC reply of a lease: a count, twenty 7 KB bodies and a 137 KB one, read 997 bytes at a time.
        var bodies = Enumerable.Range(0, 21).Select(i => Enumerable.Repeat((byte)('a' + i), i < 20 ? 7000 : 137_000).ToArray()).ToArray();
        var frame = new List<byte>();
        frame.AddRange(Encoding.ASCII.GetBytes($"*{bodies.Length + 1}\r\n:5\r\n"));
        foreach (var body in bodies)
        {
            frame.AddRange(Encoding.ASCII.GetBytes($"${body.Length}\r\n"));
            frame.AddRange(body);
            frame.AddRange("\r\n"u8.ToArray());
        }
        var bytes = frame.ToArray();
        var payload = bodies.Sum(body => (long)body.Length);

        var decoder = new RespDecoder();
        var consumed = 0;
        var left = 0;
        var done = false;
        RespValue value = default;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var end = 997; !done; end = Math.Min(end + 997, bytes.Length))
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, consumed, end - consumed));
            done = decoder.TryDecode(ref reader, out value);
            consumed += (int)reader.Consumed;
            // Nothing but an unfinished header line ("$137000\r" at most) waits for the next read.
            left = Math.Max(left, end - consumed);
            if (end == bytes.Length)
            {
                break;
            }
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(done);
        Assert.Equal(bytes.Length, consumed);
        Assert.InRange(left, 0, 10);
        // Each body once into its own array, plus the reply's array of values: a decoder that started again on
        // every read would copy the bodies before the last one about thirty times.
        Assert.InRange(allocated, payload, payload + (16 << 10));
        Assert.Equal(5, value[0].Integer);
        for (var i = 0; i < bodies.Length; i++)
        {
            Assert.Equal(bodies[i], value[1 + i].Memory.ToArray());
        }
    }

    [Fact]
    public void Values_are_what_the_server_said()
    {
        var value = DecodeSingle(new ReadOnlySequence<byte>("*4\r\n:7\r\n$3\r\nabc\r\n$-1\r\n-ERR no\r\n"u8.ToArray()));

        Assert.Equal(RespType.Array, value.Type);
        Assert.Equal(4, value.Count);
        Assert.Equal(7, value[0].Integer);
        Assert.Equal("abc", value[1].ToString());
        Assert.True(value[2].IsNull);
        Assert.True(value[3].IsError);
        Assert.Equal("ERR no", value[3].ToString());
    }

    [Fact]
    public void Resp3_types_decode()
    {
        var value = DecodeSingle(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(
            "%2\r\n+a\r\n,3.5\r\n+b\r\n~3\r\n#t\r\n#f\r\n_\r\n")));
        Assert.Equal(RespType.Map, value.Type);
        Assert.Equal(4, value.Count);
        Assert.Equal("a", value[0].ToString());
        Assert.Equal(3.5, value[1].Double);
        Assert.Equal(RespType.Set, value[3].Type);
        Assert.True(value[3][0].Boolean);
        Assert.False(value[3][1].Boolean);
        Assert.True(value[3][2].IsNull);

        Assert.Equal(double.PositiveInfinity, DecodeSingle(Ascii(",inf\r\n")).Double);
        Assert.Equal(double.NegativeInfinity, DecodeSingle(Ascii(",-inf\r\n")).Double);
        Assert.Equal("3492890328409238509324850943850943825024385", DecodeSingle(Ascii("(3492890328409238509324850943850943825024385\r\n")).ToString());
        Assert.Equal("Some string", DecodeSingle(Ascii("=15\r\ntxt:Some string\r\n")).ToString());
        var bulkError = DecodeSingle(Ascii("!21\r\nSYNTAX invalid syntax\r\n"));
        Assert.True(bulkError.IsError);
        Assert.Equal("SYNTAX invalid syntax", bulkError.ToString());
        // An attribute is skipped; the reply after it is the value.
        Assert.Equal(9, DecodeSingle(Ascii("|1\r\n+key\r\n:1\r\n:9\r\n")).Integer);
        Assert.Equal(RespType.Push, DecodeSingle(Ascii(">2\r\n+invalidate\r\n*0\r\n")).Type);
    }

    [Fact]
    public void Several_frames_in_one_buffer_decode_one_by_one()
    {
        var reader = new SequenceReader<byte>(Ascii("+OK\r\n:1\r\n$1\r\nx\r\n:2"));
        var values = new List<string?>();
        while (RespParser.TryRead(ref reader, out var value))
        {
            values.Add(value.ToString());
        }
        Assert.Equal(["OK", "1", "x"], values);
        Assert.Equal(2, reader.Remaining);
    }

    [Theory]
    [InlineData("?x\r\n")]
    [InlineData(":12a\r\n")]
    [InlineData("$3\r\nabcd\r\n")]
    [InlineData("$-5\r\n")]
    [InlineData("#x\r\n")]
    public void Garbage_is_a_protocol_error(string frame)
    {
        var sequence = Ascii(frame);
        Assert.Throws<RespProtocolException>(() =>
        {
            var reader = new SequenceReader<byte>(sequence);
            RespParser.TryRead(ref reader, out _);
        });
    }

    [Fact]
    public void Nesting_beyond_the_limit_is_refused()
    {
        var frame = string.Concat(Enumerable.Repeat("*1\r\n", RespParser.MaxDepth + 2)) + ":1\r\n";
        var sequence = Ascii(frame);
        Assert.Throws<RespProtocolException>(() =>
        {
            var reader = new SequenceReader<byte>(sequence);
            RespParser.TryRead(ref reader, out _);
        });
    }

    private static ReadOnlySequence<byte> Ascii(string text) => new(Encoding.ASCII.GetBytes(text));

    private static RespValue DecodeSingle(ReadOnlySequence<byte> sequence)
    {
        var reader = new SequenceReader<byte>(sequence);
        Assert.True(RespParser.TryRead(ref reader, out var value));
        Assert.True(reader.End);
        return value;
    }

    private static string Describe(RespValue value) => value.IsAggregate
        ? $"{value.Type}[{string.Join(",", value.Items.ToArray().Select(Describe))}]"
        : $"{value.Type}:{value}";

    private static ReadOnlySequence<byte> Segments(byte[] first, byte[] second)
    {
        var start = new Segment(first, 0);
        var end = start.Append(second);
        return new ReadOnlySequence<byte>(start, 0, end, second.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(byte[] memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
