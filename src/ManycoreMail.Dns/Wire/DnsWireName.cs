using System.Buffers.Binary;

namespace ManycoreMail.Dns.Wire;

/// <summary>Domain names on the wire (RFC 1035 §3.1, §4.1.4): writing uncompressed, reading with compression pointers.</summary>
internal static class DnsWireName
{
    /// <summary>Characters a decoded name can need: every wire byte may become a four-character "\DDD" escape.</summary>
    public const int MaxDecodedLength = DnsConstants.MaxWireNameLength * 4;

    /// <summary>Writes a normalised name (see <see cref="DnsName.TryNormalize"/>) as labels; returns the bytes written,
    /// or -1 when it does not fit.</summary>
    public static int Write(string name, Span<byte> destination)
    {
        var written = 0;
        var remaining = name.AsSpan();
        while (remaining.Length > 0)
        {
            var dot = remaining.IndexOf('.');
            var label = dot < 0 ? remaining : remaining[..dot];
            if (label.Length is 0 or > 63 || written + 1 + label.Length >= destination.Length)
            {
                return -1;
            }

            destination[written++] = (byte)label.Length;
            foreach (var c in label)
            {
                destination[written++] = (byte)c;
            }

            remaining = dot < 0 ? default : remaining[(dot + 1)..];
        }

        if (written >= destination.Length)
        {
            return -1;
        }

        destination[written++] = 0;
        return written;
    }

    /// <summary>Reads the name at <paramref name="offset"/> into <paramref name="destination"/> in the normalised
    /// presentation form (lower case, no trailing dot, the root as ""), escaping bytes that are not plain printable
    /// ASCII as \DDD so that such a name can never equal a normalised one. On success <paramref name="offset"/> moves
    /// past the name as it is stored there (a pointer counts two bytes).</summary>
    /// <remarks>Every pointer must point strictly before the previous one (or before the name's own start for the
    /// first). Real compressors only point back at names written earlier, and a strictly decreasing target makes
    /// loops and long pointer chains impossible rather than merely counted.</remarks>
    public static bool TryRead(ReadOnlySpan<byte> message, ref int offset, Span<char> destination, out int charsWritten)
    {
        charsWritten = 0;
        var position = offset;
        var resumeAt = -1;
        var pointerLimit = offset;
        var wireLength = 1; // the root byte

        // Each step consumes a label of at least two wire bytes or a pointer to a strictly lower offset, so both
        // the 255-byte name limit and the shrinking pointer limit end the loop; the count is a second guard.
        for (var step = 0; step < DnsConstants.MaxWireNameLength; step++)
        {
            if ((uint)position >= (uint)message.Length)
            {
                return false;
            }

            var length = message[position];
            switch (length & 0xC0)
            {
                case 0x00 when length == 0:
                    offset = resumeAt >= 0 ? resumeAt : position + 1;
                    return true;

                case 0x00:
                    wireLength += length + 1;
                    if (wireLength > DnsConstants.MaxWireNameLength || position + 1 + length > message.Length)
                    {
                        return false;
                    }

                    if (charsWritten > 0)
                    {
                        destination[charsWritten++] = '.';
                    }

                    charsWritten = AppendLabel(message.Slice(position + 1, length), destination, charsWritten);
                    position += 1 + length;
                    break;

                case 0xC0:
                    if (position + 1 >= message.Length)
                    {
                        return false;
                    }

                    var target = BinaryPrimitives.ReadUInt16BigEndian(message[position..]) & 0x3FFF;
                    if (target >= pointerLimit)
                    {
                        return false;
                    }

                    if (resumeAt < 0)
                    {
                        resumeAt = position + 2;
                    }

                    pointerLimit = target;
                    position = target;
                    break;

                default:
                    // 0x40 and 0x80: extended label types (RFC 6891 retired them); nothing legitimate sends them.
                    return false;
            }
        }

        return false;
    }

    /// <summary>Checks the name at <paramref name="offset"/> and moves past it.</summary>
    public static bool TrySkip(ReadOnlySpan<byte> message, ref int offset)
    {
        Span<char> scratch = stackalloc char[MaxDecodedLength];
        return TryRead(message, ref offset, scratch, out _);
    }

    /// <summary>Reads the name at <paramref name="offset"/> and tells whether it equals <paramref name="expected"/>
    /// (a normalised name), without allocating.</summary>
    public static bool TryReadAndCompare(ReadOnlySpan<byte> message, ref int offset, string expected, out bool equal)
    {
        Span<char> scratch = stackalloc char[MaxDecodedLength];
        if (!TryRead(message, ref offset, scratch, out var length))
        {
            equal = false;
            return false;
        }

        equal = scratch[..length].SequenceEqual(expected);
        return true;
    }

    public static bool TryReadString(ReadOnlySpan<byte> message, ref int offset, out string name)
    {
        Span<char> scratch = stackalloc char[MaxDecodedLength];
        if (!TryRead(message, ref offset, scratch, out var length))
        {
            name = string.Empty;
            return false;
        }

        name = new string(scratch[..length]);
        return true;
    }

    private static int AppendLabel(ReadOnlySpan<byte> label, Span<char> destination, int position)
    {
        foreach (var b in label)
        {
            if (b is <= 0x20 or >= 0x7F or (byte)'.' or (byte)'\\')
            {
                destination[position++] = '\\';
                destination[position++] = (char)('0' + (b / 100));
                destination[position++] = (char)('0' + (b / 10 % 10));
                destination[position++] = (char)('0' + (b % 10));
            }
            else
            {
                destination[position++] = b is >= (byte)'A' and <= (byte)'Z' ? (char)(b | 0x20) : (char)b;
            }
        }

        return position;
    }
}
