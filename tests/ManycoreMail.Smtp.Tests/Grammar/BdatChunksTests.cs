using System.Buffers;
using System.Text;
using ManycoreMail.Smtp.Server.Grammar;

namespace ManycoreMail.Smtp.Tests.Grammar;

public sealed class BdatChunksTests
{
    [Theory]
    [InlineData("0", 0, false)]
    [InlineData("1024", 1024, false)]
    [InlineData("12 LAST", 12, true)]
    [InlineData("12 last", 12, true)]
    [InlineData("999999999999999999", 999999999999999999, false)]
    public void Valid_arguments(string args, long size, bool last)
    {
        Assert.True(BdatChunks.TryParse(Encoding.ASCII.GetBytes(args), out var parsedSize, out var parsedLast));
        Assert.Equal(size, parsedSize);
        Assert.Equal(last, parsedLast);
    }

    [Theory]
    [InlineData("")]
    [InlineData("LAST")]
    [InlineData("-1")]
    [InlineData("+1")]
    [InlineData("1x")]
    [InlineData("12 FIRST")]
    [InlineData("12 LAST LAST")]
    [InlineData("1000000000000000000")]
    public void Invalid_arguments(string args)
    {
        Assert.False(BdatChunks.TryParse(Encoding.ASCII.GetBytes(args), out _, out _));
    }

    [Theory]
    [InlineData(false, 0, false, "NeedMail")]
    [InlineData(false, 3, true, "NeedMail")]
    [InlineData(true, 0, false, "NeedRcpt")]
    [InlineData(true, 0, true, "NoValidRecipients")]
    [InlineData(true, 1, true, "None")]
    public void Refusal_follows_the_transaction(bool haveMail, int recipients, bool attempted, string expected)
    {
        Assert.Equal(Enum.Parse<ChunkRefusal>(expected), BdatChunks.RefusalFor(haveMail, recipients, attempted));
    }

    [Fact]
    public void Octets_are_counted_across_reads_and_never_past_the_chunk()
    {
        var chunks = new BdatChunks();
        chunks.Begin(10, last: false, ChunkRefusal.None);
        Assert.True(chunks.Chunking);
        Assert.Equal(4, chunks.Take(4));
        Assert.Equal(6, chunks.Remaining);
        Assert.Equal(6, chunks.Take(100));
        Assert.Equal(0, chunks.Remaining);
        Assert.Equal(0, chunks.Take(100));
    }

    [Fact]
    public void A_refused_chunk_does_not_start_chunking_and_the_end_of_a_transaction_stops_it()
    {
        var chunks = new BdatChunks();
        chunks.Begin(3, last: true, ChunkRefusal.NeedRcpt);
        Assert.False(chunks.Chunking);
        chunks.Begin(3, last: false, ChunkRefusal.None);
        Assert.True(chunks.Chunking);
        chunks.EndTransaction();
        Assert.False(chunks.Chunking);
        Assert.Equal(ChunkRefusal.None, chunks.Refusal);
    }

    [Fact]
    public void An_intermediate_chunk_is_acknowledged_with_its_size()
    {
        var chunks = new BdatChunks();
        chunks.Begin(123456, last: false, ChunkRefusal.None);
        var writer = new ArrayBufferWriter<byte>();
        chunks.WriteReceived(writer);
        Assert.Equal("250 2.0.0 123456 octets received\r\n", Encoding.ASCII.GetString(writer.WrittenSpan));
    }
}
