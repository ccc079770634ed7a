using System.Buffers;

namespace ManycoreMail.Queue.Redis;

/// <summary>Thrown when the server sends bytes that are not RESP; the connection cannot continue.</summary>
public sealed class RespProtocolException(string message) : Exception(message);

/// <summary>
/// Decodes whole RESP2 and RESP3 replies from a <see cref="SequenceReader{T}"/>, and the limits every decoder
/// enforces. A frame split across reads is not an error: <see cref="TryRead"/> returns false and leaves the reader
/// where the frame began, so the caller can hand the same bytes back with more appended.
/// </summary>
public static class RespParser
{
    /// <summary>Deepest nesting accepted; Redis never comes close, a hostile peer might.</summary>
    public const int MaxDepth = 32;

    /// <summary>Largest bulk string accepted (Redis' own proto-max-bulk-len default).</summary>
    public const long MaxBulkLength = 512L * 1024 * 1024;

    /// <summary>Most elements accepted in one aggregate.</summary>
    public const long MaxAggregateLength = 1L << 24;

    /// <summary>Reads one complete reply. Returns false, with <paramref name="reader"/> unchanged, when
    /// the buffer ends inside the frame. A connection uses one <see cref="RespDecoder"/> instead, which keeps
    /// what it decoded of an unfinished reply.</summary>
    /// <exception cref="RespProtocolException">The bytes are not RESP.</exception>
    public static bool TryRead(ref SequenceReader<byte> reader, out RespValue value)
    {
        var attempt = reader;
        if (new RespDecoder().TryDecode(ref attempt, out value))
        {
            reader = attempt;
            return true;
        }
        value = default;
        return false;
    }
}
