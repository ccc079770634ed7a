using System.Security.Cryptography;
using NSec.Cryptography;

namespace ManycoreMail.Dkim;

/// <summary>The public-key step: does <c>signature</c> sign <c>headerHash</c> under the key record's key.</summary>
internal static class DkimSignatureCheck
{
    /// <summary>False with <paramref name="keyError"/> null when the signature is wrong; false with a reason when
    /// the key itself is unusable (a permanent error rather than a failure).</summary>
    public static bool Verify(DkimAlgorithm algorithm, byte[] publicKey, byte[] headerHash, byte[] signature, out string? keyError)
    {
        keyError = null;
        if (algorithm == DkimAlgorithm.Ed25519Sha256)
        {
            // RFC 8463 §3: Ed25519 (pure) over the SHA-256 hash of the canonical header data.
            var ed25519 = SignatureAlgorithm.Ed25519;
            if (!PublicKey.TryImport(ed25519, publicKey, KeyBlobFormat.RawPublicKey, out var key) || key is null)
            {
                keyError = $"the key record's p= is not a raw Ed25519 public key ({publicKey.Length} bytes, 32 expected)";
                return false;
            }
            return ed25519.Verify(key, headerHash, signature);
        }

        using var rsa = RSA.Create();
        if (!TryImportRsa(rsa, publicKey))
        {
            keyError = "the key record's p= is not an RSA public key";
            return false;
        }
        if (rsa.KeySize < DkimVerifier.MinimumRsaKeyBits)
        {
            keyError = $"the RSA key has {rsa.KeySize} bits; RFC 8301 requires at least {DkimVerifier.MinimumRsaKeyBits}";
            return false;
        }
        var hashName = algorithm == DkimAlgorithm.RsaSha1 ? HashAlgorithmName.SHA1 : HashAlgorithmName.SHA256;
        return rsa.VerifyHash(headerHash, signature, hashName, RSASignaturePadding.Pkcs1);
    }

    /// <summary>RFC 6376 says SubjectPublicKeyInfo; some publishers put a bare PKCS#1 RSAPublicKey, which dkimpy
    /// and OpenDKIM accept too. Only the whole blob counts: trailing bytes are not a key.</summary>
    private static bool TryImportRsa(RSA rsa, byte[] publicKey)
    {
        try
        {
            rsa.ImportSubjectPublicKeyInfo(publicKey, out var read);
            return read == publicKey.Length;
        }
        catch (CryptographicException)
        {
        }
        try
        {
            rsa.ImportRSAPublicKey(publicKey, out var read);
            return read == publicKey.Length;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
