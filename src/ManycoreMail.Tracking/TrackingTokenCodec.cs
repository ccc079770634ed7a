using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using System.Text.Unicode;

namespace ManycoreMail.Tracking;

/// <summary>
/// Signs <see cref="TrackingToken"/>s into URL-safe strings and verifies them back. Thread-safe; holds nothing but
/// the keys.
/// </summary>
/// <remarks>
/// <para>A token is the base64url encoding (RFC 4648 §5, no padding) of these bytes:</para>
/// <code>
/// offset  size  field
/// 0       1     version, 2 (a new layout gets a new version, and old tokens stop verifying only if we drop theirs)
/// 1       1     kind: 1 open, 2 click, 3 unsubscribe (TrackingKind)
/// 2       4     key id: SHA-256(secret)[0..4] of the signing secret (TrackingKeys)
/// 6       4     issued at: seconds since the Unix epoch, big-endian
/// 10      1     U, length of the uuid, 1..255
/// 11      U     message uuid, ASCII [a-z0-9]
/// 11+U    2     R, length of the recipient in bytes, big-endian, at least 1
/// 13+U    R     recipient, UTF-8
///               click and unsubscribe tokens only (open tokens end here):
/// 13+U+R  2     L, length of the field in bytes, big-endian, at least 1
/// 15+U+R  L     click: the original URL, UTF-8, exactly as it was in the message;
///               unsubscribe: the scope (TrackingToken.Scope), UTF-8
///               then, at the offset t where the above ends:
/// t       1     T, length of the tenant, 0 (none) to 64
/// t+1     T     tenant (TrackingToken.Tenant), ASCII [A-Za-z0-9._-]
/// t+1+T   1     C, length of the campaign in bytes, 0 (none) to 255
/// t+2+T   C     campaign (TrackingToken.Campaign), UTF-8
/// n-16    16    tag: HMAC-SHA256(secret, bytes 0..n-16), first 16 bytes
/// </code>
/// <para>Version 1 is the same without the tenant and the campaign: the tag follows the recipient (open) or the
/// URL or scope. Mail sent before version 2 carries such tokens, so they still verify, as tokens with neither.</para>
/// <para>The tag covers the version and the kind, so a token cannot be moved to another kind (an open token used
/// as a click) or read under another layout. Verification reads nothing but the version and the key id before
/// the tag has been checked in constant time, and a token longer than <see cref="MaxTokenLength"/> characters is
/// refused before it is decoded, so a hostile URL costs at most one bounded HMAC.</para>
/// </remarks>
public sealed class TrackingTokenCodec(TrackingKeys keys)
{
    /// <summary>The layout version written by <see cref="Sign"/>.</summary>
    public const byte Version = 2;

    /// <summary>The layout before tokens carried the tenant and the campaign; still read.</summary>
    private const byte VersionWithoutTenancy = 1;

    /// <summary>Longest token in characters, signed or accepted. A browser and a mail client pass URLs this long,
    /// and it bounds what a hostile request makes us decode and hash.</summary>
    public const int MaxTokenLength = 4096;

    /// <summary>Bytes of the truncated HMAC-SHA256 tag (128 bits).</summary>
    public const int TagLength = 16;

    private const int HeaderLength = 1 + 1 + TrackingKeys.KeyIdLength + 4;

    // Version, kind, key id, time, uuid length and one uuid byte, recipient length and one byte, tag.
    private const int MinPayloadLength = HeaderLength + 1 + 1 + 2 + 1 + TagLength;

    // Three bytes per four characters: the longest payload whose encoding fits in MaxTokenLength.
    private const int MaxPayloadLength = MaxTokenLength / 4 * 3;

    // Payloads up to this size are built on the stack; longer ones (long click URLs) in a pooled array.
    private const int StackLimit = 512;

    private readonly TrackingKeys _keys = keys ?? throw new ArgumentNullException(nameof(keys));

    /// <summary>Sign <paramref name="token"/> with the first key.</summary>
    /// <exception cref="ArgumentException">The token would be longer than <see cref="MaxTokenLength"/> (a very long
    /// URL or recipient); use <see cref="TrySign"/> to leave such a link untracked instead.</exception>
    public string Sign(TrackingToken token) =>
        TrySign(token, out var value)
            ? value
            : throw new ArgumentException(
                $"The tracking token would be longer than {MaxTokenLength} characters (the URL or recipient is too long).",
                nameof(token));

    /// <summary>Sign <paramref name="token"/> with the first key; false when it would be longer than
    /// <see cref="MaxTokenLength"/>, which <see cref="TryVerify(ReadOnlySpan{char}, out TrackingToken)"/> would refuse.</summary>
    public bool TrySign(TrackingToken token, [NotNullWhen(true)] out string? value)
    {
        ArgumentNullException.ThrowIfNull(token);
        value = null;
        // The token's factories ensured valid UTF-16, so these counts are exact and the encoding below cannot fail.
        var recipientLength = Encoding.UTF8.GetByteCount(token.Recipient);
        var extra = token.Url ?? token.Scope;
        var extraLength = extra is null ? 0 : Encoding.UTF8.GetByteCount(extra);
        var tenantLength = token.Tenant?.Length ?? 0;
        var campaignLength = token.Campaign is null ? 0 : Encoding.UTF8.GetByteCount(token.Campaign);
        var length = (long)HeaderLength + 1 + token.MessageUuid.Length + 2 + recipientLength
            + (extra is null ? 0 : 2 + extraLength) + 1 + tenantLength + 1 + campaignLength + TagLength;
        if (length > MaxPayloadLength)
        {
            return false;
        }

        byte[]? rented = null;
        Span<byte> payload = length <= StackLimit
            ? stackalloc byte[StackLimit]
            : (rented = ArrayPool<byte>.Shared.Rent((int)length));
        payload = payload[..(int)length];
        try
        {
            payload[0] = Version;
            payload[1] = (byte)token.Kind;
            _keys.SigningKeyId.CopyTo(payload[2..]);
            BinaryPrimitives.WriteUInt32BigEndian(payload[(2 + TrackingKeys.KeyIdLength)..], (uint)token.IssuedAt.ToUnixTimeSeconds());
            var at = HeaderLength;
            payload[at++] = (byte)token.MessageUuid.Length;
            at += Encoding.ASCII.GetBytes(token.MessageUuid, payload[at..]);
            at = WriteField(payload, at, token.Recipient, recipientLength);
            if (extra is not null)
            {
                at = WriteField(payload, at, extra, extraLength);
            }
            // The token's setters bound both to 255 bytes, so each length fits its byte.
            payload[at++] = (byte)tenantLength;
            at += Encoding.ASCII.GetBytes(token.Tenant.AsSpan(), payload[at..]);
            payload[at++] = (byte)campaignLength;
            at += Encoding.UTF8.GetBytes(token.Campaign.AsSpan(), payload[at..]);
            Tag(_keys.SigningKey, payload[..at], payload[at..]);
            value = Base64Url.EncodeToString(payload);
            return true;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Read a token back; false for anything we did not sign with a key we still hold, in this exact
    /// form. Never throws.</summary>
    public bool TryVerify(string? token, [NotNullWhen(true)] out TrackingToken? result)
    {
        result = null;
        return token is not null && TryVerify(token.AsSpan(), out result);
    }

    /// <summary>Read a token back (for example straight from a request path); false for anything we did not sign
    /// with a key we still hold, in this exact form. Never throws.</summary>
    public bool TryVerify(ReadOnlySpan<char> token, [NotNullWhen(true)] out TrackingToken? result)
    {
        result = null;
        if (token.Length > MaxTokenLength || token.Length < Base64Url.GetEncodedLength(MinPayloadLength))
        {
            return false;
        }

        var maxBytes = Base64Url.GetMaxDecodedLength(token.Length);
        byte[]? rentedBytes = null;
        char[]? rentedChars = null;
        Span<byte> payload = maxBytes <= StackLimit
            ? stackalloc byte[StackLimit]
            : (rentedBytes = ArrayPool<byte>.Shared.Rent(maxBytes));
        try
        {
            if (Base64Url.DecodeFromChars(token, payload, out var consumed, out var written) != OperationStatus.Done
                || consumed != token.Length)
            {
                return false;
            }
            payload = payload[..written];

            // The decoder skips white space and ignores the unused low bits of the last character, so several
            // strings decode to the same bytes. Only the one we wrote is a token: encode again and compare.
            rentedChars = ArrayPool<char>.Shared.Rent(token.Length);
            if (!Base64Url.TryEncodeToChars(payload, rentedChars, out var charsWritten)
                || !token.SequenceEqual(rentedChars.AsSpan(0, charsWritten)))
            {
                return false;
            }

            if (payload.Length < MinPayloadLength
                || payload[0] is not (Version or VersionWithoutTenancy)
                || !_keys.TryFind(payload.Slice(2, TrackingKeys.KeyIdLength), out var key))
            {
                return false;
            }
            var signed = payload[..^TagLength];
            Span<byte> expected = stackalloc byte[TagLength];
            Tag(key, signed, expected);
            if (!CryptographicOperations.FixedTimeEquals(expected, payload[^TagLength..]))
            {
                return false;
            }
            return TryParse(signed, out result);
        }
        finally
        {
            if (rentedBytes is not null)
            {
                ArrayPool<byte>.Shared.Return(rentedBytes);
            }
            if (rentedChars is not null)
            {
                ArrayPool<char>.Shared.Return(rentedChars);
            }
        }
    }

    // Authentic bytes can still be malformed only through a bug of ours or a future writer; check every field
    // anyway, so that nothing malformed ever reaches the tracker.
    private static bool TryParse(ReadOnlySpan<byte> signed, [NotNullWhen(true)] out TrackingToken? result)
    {
        result = null;
        var kind = (TrackingKind)signed[1];
        if (kind is not (TrackingKind.Open or TrackingKind.Click or TrackingKind.Unsubscribe))
        {
            return false;
        }
        var rest = signed[HeaderLength..];
        int uuidLength = rest[0];
        rest = rest[1..];
        if (uuidLength == 0 || uuidLength > rest.Length)
        {
            return false;
        }
        var uuidBytes = rest[..uuidLength];
        if (uuidBytes.ContainsAnyExcept(UuidBytes))
        {
            return false;
        }
        rest = rest[uuidLength..];
        if (!TryReadField(ref rest, out var recipient))
        {
            return false;
        }
        string? extra = null;
        if (kind != TrackingKind.Open && !TryReadField(ref rest, out extra))
        {
            return false;
        }
        string? tenant = null;
        string? campaign = null;
        if (signed[0] == Version && !(TryReadTenant(ref rest, out tenant) && TryReadCampaign(ref rest, out campaign)))
        {
            return false;
        }
        if (!rest.IsEmpty)
        {
            return false;
        }
        var issuedAt = DateTimeOffset.FromUnixTimeSeconds(BinaryPrimitives.ReadUInt32BigEndian(signed[(2 + TrackingKeys.KeyIdLength)..]));
        result = TrackingToken.FromVerified(kind, Encoding.ASCII.GetString(uuidBytes), recipient,
            kind == TrackingKind.Click ? extra : null, kind == TrackingKind.Unsubscribe ? extra : null, issuedAt, tenant, campaign);
        return true;
    }

    private static bool TryReadField(ref ReadOnlySpan<byte> rest, [NotNullWhen(true)] out string? value)
    {
        value = null;
        if (rest.Length < 2)
        {
            return false;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(rest);
        rest = rest[2..];
        if (length == 0 || length > rest.Length || !Utf8.IsValid(rest[..length]))
        {
            return false;
        }
        value = Encoding.UTF8.GetString(rest[..length]);
        rest = rest[length..];
        return true;
    }

    // Length 0 is no tenant; otherwise exactly what TrackingToken.Tenant accepts, so that reading it back cannot throw.
    private static bool TryReadTenant(ref ReadOnlySpan<byte> rest, out string? tenant)
    {
        tenant = null;
        if (!TryReadShortField(ref rest, out var bytes)
            || bytes.Length > TrackingToken.MaxTenantLength || bytes.ContainsAnyExcept(TenantBytes))
        {
            return false;
        }
        tenant = bytes.IsEmpty ? null : Encoding.ASCII.GetString(bytes);
        return true;
    }

    // Length 0 is no campaign; the one-byte length already bounds it to what TrackingToken.Campaign accepts.
    private static bool TryReadCampaign(ref ReadOnlySpan<byte> rest, out string? campaign)
    {
        campaign = null;
        if (!TryReadShortField(ref rest, out var bytes) || !Utf8.IsValid(bytes))
        {
            return false;
        }
        campaign = bytes.IsEmpty ? null : Encoding.UTF8.GetString(bytes);
        return true;
    }

    /// <summary>A one-byte length and that many bytes (none for length 0).</summary>
    private static bool TryReadShortField(ref ReadOnlySpan<byte> rest, out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        if (rest.IsEmpty || rest[0] > rest.Length - 1)
        {
            return false;
        }
        bytes = rest.Slice(1, rest[0]);
        rest = rest[(1 + bytes.Length)..];
        return true;
    }

    private static int WriteField(Span<byte> payload, int at, string value, int byteCount)
    {
        // The payload cap (MaxPayloadLength) is far below 65,535, so the length always fits in two bytes.
        BinaryPrimitives.WriteUInt16BigEndian(payload[at..], (ushort)byteCount);
        at += 2;
        return at + Encoding.UTF8.GetBytes(value, payload[at..]);
    }

    private static void Tag(ReadOnlySpan<byte> key, ReadOnlySpan<byte> signed, Span<byte> tag)
    {
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(key, signed, mac);
        mac[..TagLength].CopyTo(tag);
    }

    private static readonly SearchValues<byte> TenantBytes = SearchValues.Create(Encoding.ASCII.GetBytes(TrackingToken.TenantAlphabet));

    private static readonly SearchValues<byte> UuidBytes = SearchValues.Create(Encoding.ASCII.GetBytes(TrackingToken.UuidAlphabet));
}
