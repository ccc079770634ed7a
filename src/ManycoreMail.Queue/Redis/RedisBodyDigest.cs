using System.Buffers.Text;
using System.Security.Cryptography;

namespace ManycoreMail.Queue.Redis;

/// <summary>
/// The digest that pairs a ready body with its metadata. A message is identified by its header block and length:
/// its headers are its own (an X-Uuid on the way in, a DKIM signature over the body on the way out), so two bodies
/// that share both are the same message. Small bodies and anything without a header block (events) are hashed
/// whole. <see cref="RedisQueueScripts.Digest"/> computes the same inside Redis, byte for byte.
/// </summary>
internal static class RedisBodyDigest
{
    /// <summary>Hex SHA-1, a colon and a body length.</summary>
    public const int Length = 64;

    // Bodies up to this size are hashed whole (the Lua digest's threshold).
    private const int WholeBodyBytes = 4096;

    public static int Compute(ReadOnlySpan<byte> body, Span<byte> destination) => Compute(body, [], destination);

    /// <summary>The digest of the body <paramref name="head"/> followed by <paramref name="tail"/>, without joining
    /// them (a forwarded message: a rewritten header block and the rest of the original).</summary>
    public static int Compute(ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail, Span<byte> destination)
    {
        var length = head.Length + tail.Length;
        var headerBlock = length > WholeBodyBytes ? HeaderBlockLength(head, tail) : -1;
        var withLength = headerBlock >= 0;
        var hashed = withLength ? headerBlock : length;

        Span<byte> hash = stackalloc byte[SHA1.HashSizeInBytes];
        if (hashed <= head.Length)
        {
            SHA1.HashData(head[..hashed], hash);
        }
        else
        {
            using var incremental = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
            incremental.AppendData(head);
            incremental.AppendData(tail[..(hashed - head.Length)]);
            incremental.GetHashAndReset(hash);
        }

        var hex = "0123456789abcdef"u8;
        for (var i = 0; i < hash.Length; i++)
        {
            destination[2 * i] = hex[hash[i] >> 4];
            destination[(2 * i) + 1] = hex[hash[i] & 0xF];
        }
        var written = 2 * hash.Length;
        if (withLength)
        {
            destination[written++] = (byte)':';
            Utf8Formatter.TryFormat(length, destination[written..], out var digits);
            written += digits;
        }
        return written;
    }

    /// <summary>Length of the header block with its blank line (CRLF CRLF), -1 when there is none; the blank line
    /// may straddle the two parts.</summary>
    private static int HeaderBlockLength(ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail)
    {
        var end = head.IndexOf("\r\n\r\n"u8);
        if (end >= 0)
        {
            return end + 4;
        }
        if (tail.IsEmpty)
        {
            return -1;
        }
        // Up to three bytes of each side around the seam.
        Span<byte> seam = stackalloc byte[6];
        var before = Math.Min(3, head.Length);
        var after = Math.Min(3, tail.Length);
        head[^before..].CopyTo(seam);
        tail[..after].CopyTo(seam[before..]);
        end = seam[..(before + after)].IndexOf("\r\n\r\n"u8);
        if (end >= 0)
        {
            return head.Length - before + end + 4;
        }
        end = tail.IndexOf("\r\n\r\n"u8);
        return end >= 0 ? head.Length + end + 4 : -1;
    }
}
