using System.Security.Cryptography;
using System.Text;

namespace ManycoreMail.Tracking;

/// <summary>
/// The tracking secrets (<c>tracking/secrets</c>), in order: the first signs new tokens, every one verifies, so a
/// key can be rotated in by putting it first and rotated out, once the mail that carries it is old enough, by
/// removing it. Each key is known by a <see cref="KeyIdLength"/>-byte id (the first bytes of SHA-256 of the
/// secret) that a token carries, so verification goes straight to its key.
/// </summary>
/// <remarks>Never prints a secret: neither <see cref="object.ToString"/> nor any error message contains one.</remarks>
public sealed class TrackingKeys
{
    /// <summary>A secret shorter than this (in UTF-8 bytes) is refused: every token is an offline oracle for its
    /// key (anyone holding one can test guesses against its tag at their own pace), so the secret has to be
    /// long enough that guessing it is hopeless.</summary>
    public const int MinimumSecretBytes = 16;

    /// <summary>Bytes of the key id. Four bytes make two configured keys sharing an id a one in four billion
    /// event, and that is refused rather than left to chance.</summary>
    public const int KeyIdLength = 4;

    private readonly byte[][] _secrets;
    private readonly byte[][] _ids;

    /// <summary>Take the secrets in configuration order.</summary>
    /// <exception cref="TrackingKeyException">No secret, an empty, short or repeated one, or two with the same key id;
    /// the message names the secret by its position (1-based), never by its value.</exception>
    public TrackingKeys(IEnumerable<string> secrets)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        var keys = new List<byte[]>();
        var ids = new List<byte[]>();
        foreach (var secret in secrets)
        {
            var position = keys.Count + 1;
            if (string.IsNullOrEmpty(secret))
            {
                throw new TrackingKeyException($"Tracking secret {position} is empty.");
            }
            byte[] bytes;
            try
            {
                bytes = StrictUtf8.GetBytes(secret);
            }
            catch (EncoderFallbackException)
            {
                // A lone surrogate cannot be written as UTF-8; silently replacing it would make two different
                // secrets the same key.
                throw new TrackingKeyException($"Tracking secret {position} is not valid Unicode text.");
            }
            if (bytes.Length < MinimumSecretBytes)
            {
                throw new TrackingKeyException(
                    $"Tracking secret {position} is {bytes.Length} bytes long; at least {MinimumSecretBytes} are needed, " +
                    "because anyone holding a token can test guesses of a short secret offline.");
            }
            var id = SHA256.HashData(bytes).AsSpan(0, KeyIdLength).ToArray();
            for (var i = 0; i < keys.Count; i++)
            {
                if (keys[i].AsSpan().SequenceEqual(bytes))
                {
                    throw new TrackingKeyException($"Tracking secrets {i + 1} and {position} are the same.");
                }
                if (ids[i].AsSpan().SequenceEqual(id))
                {
                    throw new TrackingKeyException(
                        $"Tracking secrets {i + 1} and {position} have the same key id; replace one of them.");
                }
            }
            keys.Add(bytes);
            ids.Add(id);
        }
        if (keys.Count == 0)
        {
            throw new TrackingKeyException("No tracking secret is configured; at least one is needed to sign tokens.");
        }
        _secrets = [.. keys];
        _ids = [.. ids];
    }

    /// <summary>How many keys verify.</summary>
    public int Count => _secrets.Length;

    /// <summary>The key id of the signing key (the first secret).</summary>
    internal ReadOnlySpan<byte> SigningKeyId => _ids[0];

    /// <summary>The signing key (the first secret).</summary>
    internal ReadOnlySpan<byte> SigningKey => _secrets[0];

    /// <summary>Find the key a token names. Key ids are not secret, so an ordinary comparison will do.</summary>
    internal bool TryFind(ReadOnlySpan<byte> keyId, out ReadOnlySpan<byte> key)
    {
        for (var i = 0; i < _ids.Length; i++)
        {
            if (keyId.SequenceEqual(_ids[i]))
            {
                key = _secrets[i];
                return true;
            }
        }
        key = default;
        return false;
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}

/// <summary>The tracking secrets cannot be used; the message says which and why, without the secret.</summary>
public sealed class TrackingKeyException(string message) : Exception(message);
