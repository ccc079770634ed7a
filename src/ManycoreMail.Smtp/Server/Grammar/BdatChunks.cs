using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace ManycoreMail.Smtp.Server.Grammar;

/// <summary>Why the BDAT chunk being read will be refused once it has been read (RFC 3030 §2: the octets must be
/// consumed whatever the answer, or they would be read as commands).</summary>
internal enum ChunkRefusal : byte
{
    None,
    NeedMail,
    NeedRcpt,
    NoValidRecipients,
    /// <summary>The listener's memory for bodies being received is used up.</summary>
    NoMemory,
}

/// <summary>
/// The state of BDAT (RFC 3030) in one session: the chunk being read (its size, how much is left, whether it is the
/// last, whether it will be refused) and whether the transaction's content comes in chunks (DATA and RCPT are then
/// refused). The octets themselves go to the data decoder; this only counts them.
/// </summary>
internal sealed class BdatChunks
{
    /// <summary>The transaction's content came (or is coming) in BDAT chunks.</summary>
    public bool Chunking { get; private set; }

    /// <summary>Octets of the current chunk still to read.</summary>
    public long Remaining { get; private set; }

    public long Size { get; private set; }

    public bool Last { get; private set; }

    public ChunkRefusal Refusal { get; private set; }

    /// <summary>"BDAT" SP chunk-size [SP "LAST"]; at most 18 digits, which keeps the size inside a long (a chunk that
    /// size is refused as too large anyway).</summary>
    public static bool TryParse(ReadOnlySpan<byte> args, out long size, out bool last)
    {
        size = 0;
        var space = args.IndexOf((byte)' ');
        var sizeText = space < 0 ? args : args[..space];
        var rest = space < 0 ? [] : args[(space + 1)..];
        last = Ascii.EqualsIgnoreCase(rest, "LAST"u8);
        return !sizeText.IsEmpty && sizeText.Length <= 18 && !sizeText.ContainsAnyExceptInRange((byte)'0', (byte)'9')
            && (rest.IsEmpty || last)
            && Utf8Parser.TryParse(sizeText, out size, out _);
    }

    /// <summary>What a chunk is refused for in the transaction's state, before any memory is considered.</summary>
    public static ChunkRefusal RefusalFor(bool haveMail, int recipients, bool recipientAttempted) =>
        !haveMail ? ChunkRefusal.NeedMail
        : recipients > 0 ? ChunkRefusal.None
        : recipientAttempted ? ChunkRefusal.NoValidRecipients
        : ChunkRefusal.NeedRcpt;

    /// <summary>A chunk announced by BDAT; <paramref name="refusal"/> None means its octets are content.</summary>
    public void Begin(long size, bool last, ChunkRefusal refusal)
    {
        Size = size;
        Remaining = size;
        Last = last;
        Refusal = refusal;
        if (refusal == ChunkRefusal.None)
        {
            Chunking = true;
        }
    }

    /// <summary>Counts <paramref name="available"/> octets against the chunk; returns how many belong to it.</summary>
    public long Take(long available)
    {
        var take = Math.Min(Remaining, available);
        Remaining -= take;
        return take;
    }

    /// <summary>The transaction ended (or was reset).</summary>
    public void EndTransaction()
    {
        Chunking = false;
        Remaining = 0;
        Refusal = ChunkRefusal.None;
    }

    /// <summary>"250 2.0.0 &lt;size&gt; octets received" for a chunk that is not the last.</summary>
    public void WriteReceived(IBufferWriter<byte> writer)
    {
        var span = writer.GetSpan(64);
        "250 2.0.0 "u8.CopyTo(span);
        Utf8Formatter.TryFormat(Size, span[10..], out var written);
        " octets received\r\n"u8.CopyTo(span[(10 + written)..]);
        writer.Advance(10 + written + 18);
    }
}
