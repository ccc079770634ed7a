using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace ManycoreMail.Suppression;

/// <summary>The key of the last entry of a page: where the next page of a keyset scan starts.</summary>
public readonly record struct SuppressionKey(string Email, SuppressionScope Scope, string Value)
{
    public static SuppressionKey Of(SuppressionEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return new(entry.Email, entry.Scope, entry.Value);
    }
}

/// <summary>
/// The opaque <c>after</c> cursor of <see cref="ISuppressionStore.ListAsync"/>, shared by every store: a format byte,
/// the last entry's key (length-prefixed UTF-8), and a check of all of it, in base64url. The check is not a secret (a
/// cursor names a position in data the caller may list anyway); it turns a cut, edited or invented cursor into a
/// precise error instead of a silently different page.
/// </summary>
public static class SuppressionCursor
{
    private const byte Format = 1;
    private const int CheckLength = 4;

    /// <summary>What the two-byte length prefix can say; addresses are at most 254 octets, tenants are free text.</summary>
    private const int MaxFieldBytes = ushort.MaxValue;

    /// <summary>The longest text two fields of <see cref="MaxFieldBytes"/> and their framing encode to.</summary>
    private const int MaxCursorLength = (2 * MaxFieldBytes + 10) * 4 / 3 + 4;

    public static string Encode(SuppressionKey key)
    {
        var email = Encoding.UTF8.GetBytes(key.Email);
        var value = Encoding.UTF8.GetBytes(key.Value);
        var raw = new byte[1 + 2 + email.Length + 1 + 2 + value.Length + CheckLength];
        raw[0] = Format;
        var at = Field(raw, 1, email);
        raw[at++] = (byte)key.Scope;
        at = Field(raw, at, value);
        Check(raw.AsSpan(0, at), raw.AsSpan(at));
        return Base64Url.EncodeToString(raw);
    }

    /// <exception cref="ArgumentException">The text is not a cursor <see cref="Encode"/> made.</exception>
    public static SuppressionKey Decode(string cursor)
    {
        ArgumentNullException.ThrowIfNull(cursor);
        // Base64Url.DecodeFromChars throws on a character outside the alphabet, so the text is checked first.
        if (cursor.Length == 0 || cursor.Length > MaxCursorLength || !Base64Url.IsValid(cursor))
        {
            throw Invalid();
        }

        var raw = Base64Url.DecodeFromChars(cursor);
        // The round trip refuses the other spellings of the same bytes (padding, stray low bits in the last character).
        if (raw.Length < 1 + 2 + 1 + 2 + CheckLength || raw[0] != Format
            || !string.Equals(Base64Url.EncodeToString(raw), cursor, StringComparison.Ordinal))
        {
            throw Invalid();
        }

        var body = raw.AsSpan(0, raw.Length - CheckLength);
        Span<byte> check = stackalloc byte[CheckLength];
        Check(body, check);
        if (!check.SequenceEqual(raw.AsSpan(raw.Length - CheckLength)))
        {
            throw Invalid();
        }

        var at = 1;
        if (!TryField(body, ref at, out var email) || at >= body.Length || !Enum.IsDefined((SuppressionScope)body[at]))
        {
            throw Invalid();
        }

        var scope = (SuppressionScope)body[at++];
        if (!TryField(body, ref at, out var value) || at != body.Length)
        {
            throw Invalid();
        }

        return new SuppressionKey(email, scope, value);
    }

    private static int Field(byte[] raw, int at, byte[] field)
    {
        if (field.Length > MaxFieldBytes)
        {
            throw new ArgumentException($"A suppression key field is longer than {MaxFieldBytes} bytes.", "key");
        }

        BinaryPrimitives.WriteUInt16BigEndian(raw.AsSpan(at), (ushort)field.Length);
        field.CopyTo(raw, at + 2);
        return at + 2 + field.Length;
    }

    private static bool TryField(ReadOnlySpan<byte> body, ref int at, out string field)
    {
        field = "";
        if (at + 2 > body.Length)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(body[at..]);
        if (length > MaxFieldBytes || at + 2 + length > body.Length)
        {
            return false;
        }

        field = Encoding.UTF8.GetString(body.Slice(at + 2, length));
        at += 2 + length;
        return true;
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
