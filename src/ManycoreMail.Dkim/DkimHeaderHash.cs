using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using ManycoreMail.Mime;

namespace ManycoreMail.Dkim;

/// <summary>The hash a DKIM signature signs: the h= fields and the signature field itself (RFC 6376 §3.7).</summary>
internal static class DkimHeaderHash
{
    public static byte[] Compute(
        ReadOnlySpan<byte> message, IReadOnlyList<HeaderFieldRange> fields, int signatureField, DkimSignature signature, HashAlgorithmName hashName)
    {
        using var hash = IncrementalHash.CreateHash(hashName);
        var buffer = new ArrayBufferWriter<byte>(1024);

        // §5.4.2: each name in h= takes the bottom-most instance not taken yet; a name with no instance left
        // (oversigning, or a field the signer saw absent) contributes nothing.
        var taken = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in signature.SignedHeaders)
        {
            var skip = taken.GetValueOrDefault(name);
            taken[name] = skip + 1;
            var nameBytes = Encoding.ASCII.GetBytes(name);
            for (var f = fields.Count - 1; f >= 0; f--)
            {
                var field = fields[f];
                if (!Ascii.EqualsIgnoreCase(message.Slice(field.Start, field.NameLength), nameBytes))
                {
                    continue;
                }
                if (skip-- == 0)
                {
                    Append(buffer, message[field.Start..field.End], signature.RelaxedHeader, withLineEnd: true);
                    break;
                }
            }
        }

        var own = fields[signatureField];
        var withoutSignature = WithEmptySignature(message[own.Start..own.End], own.ValueStart - own.Start);
        Append(buffer, withoutSignature, signature.RelaxedHeader, withLineEnd: false);
        hash.AppendData(buffer.WrittenSpan);
        return hash.GetHashAndReset();
    }

    private static void Append(ArrayBufferWriter<byte> buffer, ReadOnlySpan<byte> field, bool relaxed, bool withLineEnd)
    {
        if (relaxed)
        {
            var destination = buffer.GetSpan(field.Length + 2);
            var written = RelaxedCanonicalization.CanonicalizeHeader(field, destination);
            buffer.Advance(withLineEnd ? written : written - 2);
            return;
        }
        if (!withLineEnd)
        {
            field = field.TrimEnd("\r\n"u8);
        }
        buffer.Write(field);
    }

    /// <summary>The field with the value of its b= tag deleted, surrounding whitespace included (§3.7), and without
    /// its final line end. The parser already refused a field with two b= tags.</summary>
    private static byte[] WithEmptySignature(ReadOnlySpan<byte> field, int valueOffset)
    {
        var end = field.Length;
        while (end > valueOffset && field[end - 1] is (byte)'\r' or (byte)'\n')
        {
            end--;
        }
        var segmentStart = valueOffset;
        while (segmentStart <= end)
        {
            var length = field[segmentStart..end].IndexOf((byte)';');
            var segmentEnd = length < 0 ? end : segmentStart + length;
            var equals = field[segmentStart..segmentEnd].IndexOf((byte)'=');
            if (equals >= 0 && field[segmentStart..(segmentStart + equals)].Trim(" \t\r\n"u8).SequenceEqual("b"u8))
            {
                var valueStart = segmentStart + equals + 1;
                return [.. field[..valueStart], .. field[segmentEnd..end]];
            }
            segmentStart = segmentEnd + 1;
        }
        return field[..end].ToArray();
    }
}
