using System.Formats.Asn1;
using System.Security.Cryptography;
using NSec.Cryptography;

namespace ManycoreMail.Dkim;

/// <summary>A domain's signing identity: domain, selector and a private key whose type decides a=, optionally
/// limited to a window of time (for rotation).</summary>
public sealed record DkimSigningKey
{
    /// <summary>RFC 8301 §3.2: signers MUST use RSA keys of at least 1024 bits.</summary>
    public const int MinimumKeyBits = 1024;

    /// <summary>RFC 8032: an Ed25519 signature is 64 bytes.</summary>
    private const int Ed25519SignatureLength = 64;

    private const string RsaOid = "1.2.840.113549.1.1.1";
    private const string Ed25519Oid = "1.3.101.112";

    private readonly RSA? _rsa;
    private readonly Key? _ed25519;

    public DkimSigningKey(string domain, string selector, RSA key)
    {
        ArgumentNullException.ThrowIfNull(key);
        Domain = domain;
        Selector = selector;
        _rsa = key;
        Algorithm = DkimAlgorithm.RsaSha256;
    }

    public DkimSigningKey(string domain, string selector, Key key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Algorithm != SignatureAlgorithm.Ed25519)
        {
            throw new ArgumentException("Only Ed25519 keys sign ed25519-sha256 (RFC 8463).", nameof(key));
        }
        Domain = domain;
        Selector = selector;
        _ed25519 = key;
        Algorithm = DkimAlgorithm.Ed25519Sha256;
    }

    public string Domain { get; }
    public string Selector { get; }
    /// <summary><see cref="DkimAlgorithm.RsaSha256"/> or <see cref="DkimAlgorithm.Ed25519Sha256"/> (never sha1).</summary>
    public DkimAlgorithm Algorithm { get; }

    /// <summary>The key signs from this moment on (null: always has).</summary>
    public DateTimeOffset? NotBefore { get; init; }

    /// <summary>The key signs up to and including this moment (null: no end).</summary>
    public DateTimeOffset? NotAfter { get; init; }

    /// <summary>The a= tag value.</summary>
    public string AlgorithmName => Algorithm == DkimAlgorithm.RsaSha256 ? "rsa-sha256" : "ed25519-sha256";

    internal int SignatureLength => _rsa is not null ? (_rsa.KeySize + 7) / 8 : Ed25519SignatureLength;

    public bool IsValidAt(DateTimeOffset moment) =>
        (NotBefore is not { } start || moment >= start) && (NotAfter is not { } end || moment <= end);

    /// <summary>The key record (RFC 6376 §3.6.1) that publishes the public half: for RSA the SubjectPublicKeyInfo,
    /// for Ed25519 the raw 32-byte public key (RFC 8463 §4).</summary>
    public string PublicKeyRecord() => _rsa is not null
        ? "v=DKIM1; k=rsa; p=" + Convert.ToBase64String(_rsa.ExportSubjectPublicKeyInfo())
        : "v=DKIM1; k=ed25519; p=" + Convert.ToBase64String(_ed25519!.PublicKey.Export(KeyBlobFormat.RawPublicKey));

    /// <summary>Whether a published key record holds this key's public half. For RSA, p= is a SubjectPublicKeyInfo
    /// (RFC 6376 §3.6.1); some publish a bare RSAPublicKey, which verifiers accept too.</summary>
    public bool IsPublishedBy(DkimKeyRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (_ed25519 is not null)
        {
            return string.Equals(record.KeyType, "ed25519", StringComparison.OrdinalIgnoreCase)
                && record.PublicKey.AsSpan().SequenceEqual(_ed25519.PublicKey.Export(KeyBlobFormat.RawPublicKey));
        }
        if (!string.Equals(record.KeyType, "rsa", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        using var published = RSA.Create();
        try
        {
            published.ImportSubjectPublicKeyInfo(record.PublicKey, out _);
        }
        catch (CryptographicException)
        {
            try
            {
                published.ImportRSAPublicKey(record.PublicKey, out _);
            }
            catch (CryptographicException)
            {
                return false;
            }
        }
        var ours = _rsa!.ExportParameters(includePrivateParameters: false);
        var theirs = published.ExportParameters(includePrivateParameters: false);
        return ours.Modulus.AsSpan().SequenceEqual(theirs.Modulus) && ours.Exponent.AsSpan().SequenceEqual(theirs.Exponent);
    }

    /// <summary>Signs the SHA-256 of the canonical header data: RSASSA-PKCS1-v1_5 for RSA; for Ed25519, PureEdDSA
    /// over the 32 hash bytes themselves (RFC 8463 §3). Returns the signature length.</summary>
    internal int SignHash(ReadOnlySpan<byte> sha256, Span<byte> destination)
    {
        if (_rsa is not null)
        {
            if (!_rsa.TrySignHash(sha256, destination, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1, out var written))
            {
                throw new CryptographicException("The RSA signature did not fit the buffer sized from the key.");
            }
            return written;
        }
        SignatureAlgorithm.Ed25519.Sign(_ed25519!, sha256, destination[..Ed25519SignatureLength]);
        return Ed25519SignatureLength;
    }

    /// <summary>Load a private key of either algorithm: PKCS#1 (BEGIN RSA PRIVATE KEY) or PKCS#8 (BEGIN PRIVATE KEY)
    /// with the RSA or the Ed25519 (as <c>openssl genpkey -algorithm ed25519</c> writes) algorithm identifier.</summary>
    /// <exception cref="DkimKeyException">No usable private key in the text; the message names the problem.</exception>
    public static DkimSigningKey Load(string domain, string selector, string pem)
    {
        var (label, base64) = FindPrivateKey(pem);
        if (label == "RSA PRIVATE KEY")
        {
            return new DkimSigningKey(domain, selector, LoadRsaPrivateKey(pem));
        }
        byte[] der;
        string oid;
        try
        {
            der = Convert.FromBase64String(base64);
            oid = Pkcs8AlgorithmOid(der);
        }
        catch (Exception e) when (e is FormatException or AsnContentException)
        {
            throw new DkimKeyException("The DKIM private key could not be read: BEGIN PRIVATE KEY holds no well-formed PKCS#8 structure.", e);
        }
        switch (oid)
        {
            case RsaOid:
                return new DkimSigningKey(domain, selector, LoadRsaPrivateKey(pem));
            case Ed25519Oid:
                // Signing needs no export; AllowPlaintextExport is not asked for.
                if (!Key.TryImport(SignatureAlgorithm.Ed25519, der, KeyBlobFormat.PkixPrivateKey, out var key))
                {
                    throw new DkimKeyException("The DKIM private key could not be read: its PKCS#8 structure says Ed25519 but holds no valid Ed25519 key.");
                }
                return new DkimSigningKey(domain, selector, key!);
            default:
                throw new DkimKeyException(
                    $"The DKIM private key has an unknown algorithm ({AlgorithmLabel(oid)}); DKIM signs with RSA (rsa-sha256) or Ed25519 (ed25519-sha256).");
        }
    }

    /// <summary>Load an RSA private key from PEM: PKCS#1 (BEGIN RSA PRIVATE KEY) or PKCS#8 (BEGIN PRIVATE KEY).</summary>
    /// <exception cref="DkimKeyException">No RSA private key in the text, or it cannot be read.</exception>
    public static RSA LoadRsaPrivateKey(string pem)
    {
        var (label, base64) = FindPrivateKey(pem);
        var rsa = RSA.Create();
        try
        {
            var der = Convert.FromBase64String(base64);
            if (label == "RSA PRIVATE KEY")
            {
                rsa.ImportRSAPrivateKey(der, out _);
            }
            else
            {
                rsa.ImportPkcs8PrivateKey(der, out _);
            }
        }
        catch (Exception e) when (e is CryptographicException or FormatException)
        {
            rsa.Dispose();
            throw new DkimKeyException(
                "The DKIM private key could not be read: it is not a well-formed RSA key in PKCS#1 or PKCS#8 form " +
                "(a key of another algorithm, such as EC, is not supported for rsa-sha256).", e);
        }
        if (rsa.KeySize < MinimumKeyBits)
        {
            var bits = rsa.KeySize;
            rsa.Dispose();
            throw new DkimKeyException($"The DKIM key has {bits} bits; RFC 8301 requires at least {MinimumKeyBits}.");
        }
        return rsa;
    }

    /// <summary>The one private key block's label and base64 content. We find it ourselves, so that the error can
    /// say what was there instead.</summary>
    private static (string Label, string Base64) FindPrivateKey(string pem)
    {
        if (string.IsNullOrWhiteSpace(pem))
        {
            throw new DkimKeyException("The DKIM key text is empty.");
        }
        (string Label, string Base64)? found = null;
        string? otherLabel = null;
        var rest = pem.AsSpan();
        // Each round moves past one PEM block.
        while (PemEncoding.TryFind(rest, out var fields))
        {
            var label = rest[fields.Label];
            if (label.SequenceEqual("RSA PRIVATE KEY") || label.SequenceEqual("PRIVATE KEY"))
            {
                if (found is not null)
                {
                    throw new DkimKeyException("The DKIM key text holds more than one private key.");
                }
                found = (label.ToString(), rest[fields.Base64Data].ToString());
            }
            else
            {
                otherLabel ??= label.ToString();
            }
            rest = rest[fields.Location.End.Value..];
        }
        return found ?? throw new DkimKeyException(otherLabel switch
        {
            null => "No PEM block found in the DKIM key text (expected BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY).",
            "ENCRYPTED PRIVATE KEY" => "The DKIM key is encrypted (BEGIN ENCRYPTED PRIVATE KEY); an unencrypted key is needed.",
            "PUBLIC KEY" or "RSA PUBLIC KEY" => $"The DKIM key text holds a public key (BEGIN {otherLabel}); the private key is needed.",
            _ => $"The DKIM key text holds no private key, only BEGIN {otherLabel}; expected BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY.",
        });
    }

    /// <summary>RFC 5208: PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier ::= SEQUENCE { OID, ... }, ... }.</summary>
    private static string Pkcs8AlgorithmOid(byte[] der)
    {
        var info = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        info.ReadInteger();
        return info.ReadSequence().ReadObjectIdentifier();
    }

    private static string AlgorithmLabel(string oid) => oid switch
    {
        "1.2.840.10045.2.1" => "EC, " + oid,
        "1.3.101.113" => "Ed448, " + oid,
        "1.3.101.110" or "1.3.101.111" => "X25519/X448, " + oid,
        "1.2.840.113549.1.1.10" => "RSA-PSS, " + oid,
        _ => "OID " + oid,
    };
}

public sealed class DkimKeyException(string message, Exception? inner = null) : Exception(message, inner);
