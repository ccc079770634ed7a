using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace ManycoreMail.Webhooks;

/// <summary>A secret that is not a Standard Webhooks signing secret; the message never holds the secret itself.</summary>
internal sealed class WebhookSecretException(string message) : Exception(message);

/// <summary>
/// Signs webhook requests as the Standard Webhooks specification says: <c>webhook-id</c>, <c>webhook-timestamp</c>
/// (Unix seconds) and <c>webhook-signature</c>, one <c>v1,&lt;base64 HMAC-SHA256&gt;</c> of
/// <c>id.timestamp.body</c> per secret, space-separated, so a receiver rotating its secret accepts either.
/// Each secret is <c>whsec_</c> followed by the base64 of the key (24 to 64 bytes, as the specification asks).
/// </summary>
/// <remarks>
/// Written here rather than taken from the <c>StandardWebhooks</c> package: that package signs a <c>string</c>
/// payload (encoded as UTF-8, throwing on anything else), while an inbound mail in raw format is bytes that need not be
/// UTF-8, and it takes one secret per instance and brings Newtonsoft.Json and Polly 7 along. Used by the inbound
/// delivery worker and meant for backdata's webhooks too (issue 14).
/// </remarks>
internal sealed class StandardWebhookSigner
{
    public const string SecretPrefix = "whsec_";
    public const int MinKeyBytes = 24;
    public const int MaxKeyBytes = 64;

    public const string IdHeader = "webhook-id";
    public const string TimestampHeader = "webhook-timestamp";
    public const string SignatureHeader = "webhook-signature";

    private readonly IReadOnlyList<byte[]> _keys;

    /// <exception cref="WebhookSecretException">A secret is not <c>whsec_</c> + base64 of 24 to 64 bytes, or none is given.</exception>
    public StandardWebhookSigner(IReadOnlyList<string> secrets)
    {
        if (secrets.Count == 0)
        {
            throw new WebhookSecretException("needs at least one secret");
        }
        var keys = new List<byte[]>(secrets.Count);
        for (var i = 0; i < secrets.Count; i++)
        {
            keys.Add(DecodeSecret(secrets[i], i));
        }
        _keys = keys;
    }

    /// <summary>The key inside a secret; the message names the secret by its position only.</summary>
    public static byte[] DecodeSecret(string secret, int position)
    {
        if (!secret.StartsWith(SecretPrefix, StringComparison.Ordinal))
        {
            throw new WebhookSecretException($"secret #{position + 1} must start with '{SecretPrefix}'");
        }
        byte[] key;
        try
        {
            key = Convert.FromBase64String(secret[SecretPrefix.Length..]);
        }
        catch (FormatException)
        {
            throw new WebhookSecretException($"secret #{position + 1} is not '{SecretPrefix}' followed by base64");
        }
        if (key.Length is < MinKeyBytes or > MaxKeyBytes)
        {
            throw new WebhookSecretException(
                $"secret #{position + 1} holds a key of {key.Length} bytes; Standard Webhooks keys are {MinKeyBytes} to {MaxKeyBytes} bytes");
        }
        return key;
    }

    /// <summary>The three headers for one request. The same id and timestamp and body always give the same values.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers(string id, DateTimeOffset timestamp, ReadOnlySpan<byte> body)
    {
        var seconds = timestamp.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return
        [
            new(IdHeader, id),
            new(TimestampHeader, seconds),
            new(SignatureHeader, Signature(id, seconds, body)),
        ];
    }

    /// <summary>The <c>webhook-signature</c> value: one <c>v1,</c> entry per secret, in the configured order.</summary>
    public string Signature(string id, string timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes(id + "." + timestamp + ".");
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed.AsSpan(prefix.Length));
        var value = new StringBuilder(_keys.Count * 48);
        foreach (var key in _keys)
        {
            if (value.Length > 0)
            {
                value.Append(' ');
            }
            value.Append("v1,").Append(Convert.ToBase64String(HMACSHA256.HashData(key, signed)));
        }
        return value.ToString();
    }
}
