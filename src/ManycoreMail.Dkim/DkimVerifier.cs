using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using ManycoreMail.Mime;

namespace ManycoreMail.Dkim;

/// <summary>RFC 6376 verifier: every DKIM-Signature field of a message, rsa-sha256, rsa-sha1 (reported as
/// <see cref="DkimResult.Policy"/>) and ed25519-sha256 (RFC 8463), simple and relaxed canonicalisation, l=.
/// Never throws for anything in the message or the key records: each problem becomes a result.</summary>
/// <remarks>The body is hashed straight from the message bytes, once per distinct (canonicalisation, hash,
/// l=) combination among the signatures. Keys are fetched one signature after another, so a message cannot make
/// the verifier send a burst of queries; signatures beyond <see cref="MaxSignatures"/> are not processed.</remarks>
public sealed class DkimVerifier(IDkimKeyResolver keys, TimeProvider timeProvider)
{
    /// <summary>Enough for a message relayed through a few signing hops; more is an attempt to make us query DNS.</summary>
    public const int MaxSignatures = 8;

    /// <summary>RFC 8301 §3.2: verifiers MUST NOT consider signatures with shorter RSA keys valid.</summary>
    public const int MinimumRsaKeyBits = 1024;

    private const string FieldName = "DKIM-Signature";

    /// <summary>One result per DKIM-Signature field, in the order the fields appear (top first); none for an
    /// unsigned message.</summary>
    public async Task<IReadOnlyList<DkimVerificationResult>> VerifyAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        if (!TryReadHeader(message.Span, out var fields, out var bodyOffset, out var headerError))
        {
            return [new DkimVerificationResult(DkimResult.PermError, null, null, $"malformed header block: {headerError}")];
        }
        var context = new MessageContext(message, fields, bodyOffset);
        var results = new List<DkimVerificationResult>();
        var processed = 0;
        for (var f = 0; f < fields.Count; f++)
        {
            var field = fields[f];
            if (!Ascii.EqualsIgnoreCase(message.Span.Slice(field.Start, field.NameLength), FieldName))
            {
                continue;
            }
            var value = Encoding.Latin1.GetString(message.Span[field.ValueStart..field.End]);
            if (!DkimSignature.TryParse(value, out var signature, out var error, out var domain, out var selector))
            {
                results.Add(new DkimVerificationResult(DkimResult.PermError, domain, selector, $"malformed signature: {error}"));
                continue;
            }
            if (++processed > MaxSignatures)
            {
                results.Add(Result(signature, DkimResult.PermError, $"more than {MaxSignatures} signatures; this one was not verified"));
                continue;
            }
            results.Add(await VerifyAsync(context, f, signature, cancellationToken).ConfigureAwait(false));
        }
        return results;
    }

    private async Task<DkimVerificationResult> VerifyAsync(MessageContext context, int fieldIndex, DkimSignature signature, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow().ToUnixTimeSeconds();
        if (signature.Expiration is { } expiration && now > expiration)
        {
            return Result(signature, DkimResult.PermError, $"signature expired at {DateTimeOffset.FromUnixTimeSeconds(expiration):u}");
        }

        var lookup = await keys.LookupAsync(signature.Selector, signature.Domain, cancellationToken).ConfigureAwait(false);
        var queryName = $"{signature.Selector}._domainkey.{signature.Domain}";
        switch (lookup.Status)
        {
            case DkimKeyLookupStatus.TemporaryFailure:
                return Result(signature, DkimResult.TempError, $"key lookup for {queryName} failed temporarily");
            case DkimKeyLookupStatus.NotFound or DkimKeyLookupStatus.Found when lookup.Records.Count == 0:
                return Result(signature, DkimResult.PermError, $"no key record at {queryName}");
        }
        DkimKeyRecord? key = null;
        string? keyError = null;
        foreach (var text in lookup.Records)
        {
            if (DkimKeyRecord.TryParse(text, out key, out var error))
            {
                break;
            }
            keyError ??= error;
        }
        if (key is null)
        {
            return Result(signature, DkimResult.PermError, $"unusable key record at {queryName}: {keyError}");
        }
        var testing = key.Testing;
        if (KeyMismatch(signature, key) is { } mismatch)
        {
            return Result(signature, DkimResult.PermError, mismatch, testing);
        }

        try
        {
            return Verify(context, fieldIndex, signature, key);
        }
        catch (CryptographicException e)
        {
            return Result(signature, DkimResult.PermError, $"unusable public key at {queryName}: {e.Message}", testing);
        }
    }

    private static string? KeyMismatch(DkimSignature signature, DkimKeyRecord key)
    {
        var (keyType, hash) = signature.Algorithm switch
        {
            DkimAlgorithm.RsaSha256 => ("rsa", "sha256"),
            DkimAlgorithm.RsaSha1 => ("rsa", "sha1"),
            _ => ("ed25519", "sha256"),
        };
        if (key.KeyType != keyType)
        {
            return $"key type k={key.KeyType} does not fit a={signature.AlgorithmName}";
        }
        if (key.Hashes is not null && !key.Hashes.Contains(hash))
        {
            return $"key record does not allow {hash} (h={string.Join(':', key.Hashes)})";
        }
        if (key.StrictIdentity && !signature.Identity.EndsWith("@" + signature.Domain, StringComparison.OrdinalIgnoreCase))
        {
            return $"key record has t=s but i={signature.Identity} is a subdomain of d={signature.Domain}";
        }
        return null;
    }

    private static DkimVerificationResult Verify(MessageContext context, int fieldIndex, DkimSignature signature, DkimKeyRecord key)
    {
        var hashName = signature.Algorithm == DkimAlgorithm.RsaSha1 ? HashAlgorithmName.SHA1 : HashAlgorithmName.SHA256;
        var (bodyHash, canonicalLength) = context.BodyHash(signature.RelaxedBody, hashName, signature.BodyLength);
        if (signature.BodyLength is { } limit && limit > canonicalLength)
        {
            return Result(signature, DkimResult.Fail, $"l={limit} is longer than the canonical body ({canonicalLength} bytes)", key.Testing);
        }
        if (!bodyHash.AsSpan().SequenceEqual(signature.BodyHash))
        {
            return Result(signature, DkimResult.Fail, "body hash did not verify", key.Testing);
        }

        var headerHash = DkimHeaderHash.Compute(context.Message.Span, context.Fields, fieldIndex, signature, hashName);
        if (!DkimSignatureCheck.Verify(signature.Algorithm, key.PublicKey, headerHash, signature.Signature, out var keyError))
        {
            return keyError is null
                ? Result(signature, DkimResult.Fail, "signature did not verify", key.Testing)
                : Result(signature, DkimResult.PermError, keyError, key.Testing);
        }
        return signature.Algorithm == DkimAlgorithm.RsaSha1
            ? Result(signature, DkimResult.Policy, "rsa-sha1 verified, but it is too weak to rely on (RFC 8301)", key.Testing)
            : Result(signature, DkimResult.Pass, "signature verified", key.Testing);
    }

    private static DkimVerificationResult Result(DkimSignature signature, DkimResult result, string reason, bool testing = false) =>
        new(result, signature.Domain, signature.Selector, reason, signature.AlgorithmName,
            signature.Algorithm == DkimAlgorithm.RsaSha1, testing);

    private static bool TryReadHeader(ReadOnlySpan<byte> message, out List<HeaderFieldRange> fields, out int bodyOffset, out string? error)
    {
        fields = [];
        var reader = new HeaderBlockReader(message);
        HeaderReadStatus status;
        // Every round consumes one field.
        while ((status = reader.Read(out var field)) == HeaderReadStatus.Field)
        {
            fields.Add(field);
        }
        bodyOffset = reader.BodyOffset;
        error = reader.Error;
        return status == HeaderReadStatus.End;
    }

    /// <summary>The message with its header fields located, and the body hashes computed so far.</summary>
    private sealed class MessageContext(ReadOnlyMemory<byte> message, IReadOnlyList<HeaderFieldRange> fields, int bodyOffset)
    {
        private readonly Dictionary<(bool Relaxed, HashAlgorithmName Hash, long? Limit), (byte[] Hash, long Length)> _bodyHashes = [];

        public ReadOnlyMemory<byte> Message => message;
        public IReadOnlyList<HeaderFieldRange> Fields => fields;

        public (byte[] Hash, long CanonicalLength) BodyHash(bool relaxed, HashAlgorithmName hashName, long? limit)
        {
            if (_bodyHashes.TryGetValue((relaxed, hashName, limit), out var known))
            {
                return known;
            }
            using var hash = IncrementalHash.CreateHash(hashName);
            var body = message.Span[bodyOffset..];
            var length = relaxed
                ? RelaxedCanonicalization.HashBody(body, hash, limit ?? long.MaxValue)
                : SimpleCanonicalization.HashBody(body, hash, limit ?? long.MaxValue);
            var computed = (hash.GetHashAndReset(), length);
            _bodyHashes[(relaxed, hashName, limit)] = computed;
            return computed;
        }
    }
}
