using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;

namespace ManycoreMail.EventStore;

/// <summary>
/// The opaque <c>after</c> cursor: a format byte, the last id, and a check of both, in base64url. The check is not a
/// secret (a cursor only names a position in data the caller may query anyway); it turns a cursor that was cut,
/// edited or made up into a precise error instead of a silently different page.
/// </summary>
public static class EventCursor
{
    private const byte Format = 1;
    private const int IdOffset = 1;
    private const int CheckOffset = IdOffset + sizeof(long);
    private const int CheckLength = 4;
    private const int Length = CheckOffset + CheckLength;
    private const int EncodedLength = (Length * 4 + 2) / 3;

    public static string Encode(long id)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(id);
        Span<byte> raw = stackalloc byte[Length];
        raw[0] = Format;
        BinaryPrimitives.WriteInt64BigEndian(raw[IdOffset..], id);
        Check(raw[..CheckOffset], raw[CheckOffset..]);
        return Base64Url.EncodeToString(raw);
    }

    /// <exception cref="ArgumentException">The text is not a cursor <see cref="Encode"/> made.</exception>
    public static long Decode(string cursor)
    {
        ArgumentNullException.ThrowIfNull(cursor);
        Span<byte> raw = stackalloc byte[Length];
        // TryDecodeFromChars throws on a character outside the alphabet, so the text is checked first; the
        // round trip refuses the other spellings of the same bytes (padding, stray low bits in the last character).
        if (cursor.Length != EncodedLength || !Base64Url.IsValid(cursor)
            || !Base64Url.TryDecodeFromChars(cursor, raw, out var written) || written != Length
            || !string.Equals(Base64Url.EncodeToString(raw), cursor, StringComparison.Ordinal))
        {
            throw Invalid();
        }

        Span<byte> check = stackalloc byte[CheckLength];
        Check(raw[..CheckOffset], check);
        var id = BinaryPrimitives.ReadInt64BigEndian(raw[IdOffset..]);
        if (raw[0] != Format || !check.SequenceEqual(raw[CheckOffset..]) || id < 0)
        {
            throw Invalid();
        }

        return id;
    }

    private static void Check(ReadOnlySpan<byte> data, Span<byte> check)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(data, hash);
        hash[..CheckLength].CopyTo(check);
    }

    private static ArgumentException Invalid() =>
        new("The cursor is not one this server handed out (\"after\" must be a previous answer's \"next\", unchanged).", "after");
}
