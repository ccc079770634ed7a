using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ManycoreMail.Dns;

namespace ManycoreMail.TransportSecurity.Dane;

/// <summary>Checks a server's certificate chain against DANE TLSA records as RFC 7672 §3.1 applies them to SMTP:
/// DANE-EE(3) matches the leaf and nothing else is checked (no names, no dates: §3.1.1); DANE-TA(2) matches a
/// certificate or key the server presented, the leaf must chain to it, and the leaf must name the MX host (§3.2.2).
/// PKIX usages (0, 1) are unusable for SMTP (§3.1.3) and ignored.</summary>
public static class DaneMatcher
{
    public const byte UsageDaneTa = 2;
    public const byte UsageDaneEe = 3;

    /// <summary>The records a client can use: DANE-TA or DANE-EE with a known selector and matching type whose
    /// data has the right length. RFC 7672 §2.2: a TLSA RRset with none of these is treated as no TLSA at all
    /// (TLS is still required, RFC 7672 §2.2 point 4, but nothing is authenticated).</summary>
    public static IReadOnlyList<TlsaRecord> Usable(IEnumerable<TlsaRecord> records) =>
        [.. records.Where(r => r.Usage is UsageDaneTa or UsageDaneEe && r.Selector is 0 or 1 && DataLengthFits(r))];

    /// <summary>Whether <paramref name="leaf"/> (with the <paramref name="presented"/> chain the server sent, leaf
    /// first or not) satisfies one of <paramref name="usable"/>. <paramref name="referenceNames"/> are the names a
    /// DANE-TA chain's leaf may carry (the MX host, per §3.2.2). Null on success, else why not.</summary>
    public static string? Check(X509Certificate2 leaf, IReadOnlyList<X509Certificate2> presented, IReadOnlyList<TlsaRecord> usable, IReadOnlyList<string> referenceNames)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        ArgumentNullException.ThrowIfNull(presented);
        ArgumentNullException.ThrowIfNull(usable);
        if (usable.Count == 0)
        {
            return "no usable TLSA records";
        }

        if (usable.Any(r => r.Usage == UsageDaneEe && Matches(r, leaf)))
        {
            return null;
        }

        var anchors = usable.Where(r => r.Usage == UsageDaneTa).ToArray();
        if (anchors.Length == 0)
        {
            return "the server certificate matches no DANE-EE TLSA record";
        }

        // A trust anchor given by digest has to be in what the server sent (RFC 7672 §3.1.2: servers must include it).
        var anchor = presented.FirstOrDefault(c => !c.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span) && anchors.Any(r => Matches(r, c)));
        if (anchor is null)
        {
            // RFC 7671 §5.2.2: a DANE-TA(2) SPKI(1) Full(0) record publishes the anchor's whole key, so the server may
            // leave the anchor's certificate out: the top of the chain it sent must then be signed by that key.
            var keys = anchors.Where(r => r.Selector == 1 && r.MatchingType == 0).ToArray();
            var top = TopOf(leaf, presented);
            if (keys.Length == 0 || !keys.Any(r => SignedBy(top, r.Data.Span)))
            {
                return "no certificate in the server's chain matches a DANE-TA TLSA record";
            }

            anchor = top;
        }

        if (!anchor.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span) && !ChainsTo(leaf, presented, anchor))
        {
            return "the server certificate does not chain to the DANE-TA trust anchor";
        }

        return referenceNames.Any(name => leaf.MatchesHostname(name, allowWildcards: true, allowCommonName: true))
            ? null
            : $"the server certificate does not name {string.Join(" or ", referenceNames)} (DANE-TA needs a name match)";
    }

    /// <summary>RFC 6698 §2.1.2-2.1.3: the selected bytes, then compared whole or by digest.</summary>
    public static bool Matches(TlsaRecord record, X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(certificate);
        var selected = record.Selector switch
        {
            0 => certificate.RawData,
            1 => certificate.PublicKey.ExportSubjectPublicKeyInfo(),
            _ => null,
        };
        if (selected is null)
        {
            return false;
        }

        var expected = record.Data.Span;
        return record.MatchingType switch
        {
            0 => expected.SequenceEqual(selected),
            1 => CryptographicOperations.FixedTimeEquals(expected, SHA256.HashData(selected)),
            2 => CryptographicOperations.FixedTimeEquals(expected, SHA512.HashData(selected)),
            _ => false,
        };
    }

    private static bool DataLengthFits(TlsaRecord record) => record.MatchingType switch
    {
        0 => record.Data.Length > 0,
        1 => record.Data.Length == SHA256.HashSizeInBytes,
        2 => record.Data.Length == SHA512.HashSizeInBytes,
        _ => false,
    };

    /// <summary>Builds the chain with the anchor as the only root; the leaf must reach it.</summary>
    private static bool ChainsTo(X509Certificate2 leaf, IReadOnlyList<X509Certificate2> presented, X509Certificate2 anchor)
    {
        using var chain = OfflineChain.Create([anchor], presented);

        // The anchor may be an intermediate whose issuer the server also sent: it is trusted as the root anyway.
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.AllowUnknownCertificateAuthority;
        if (!chain.Build(leaf))
        {
            return chain.ChainStatus.All(s => s.Status is X509ChainStatusFlags.UntrustedRoot or X509ChainStatusFlags.PartialChain or X509ChainStatusFlags.NoError)
                && ChainContains(chain, anchor);
        }

        return ChainContains(chain, anchor);
    }

    /// <summary>The last certificate reached from <paramref name="leaf"/> by issuer name through what the server sent.</summary>
    private static X509Certificate2 TopOf(X509Certificate2 leaf, IReadOnlyList<X509Certificate2> presented)
    {
        var top = leaf;

        // At most one step per certificate sent: a chain that names itself in a loop ends somewhere.
        for (var step = 0; step < presented.Count; step++)
        {
            var current = top;
            var issuer = presented.FirstOrDefault(c => c.SubjectName.RawData.AsSpan().SequenceEqual(current.IssuerName.RawData)
                && !c.RawDataMemory.Span.SequenceEqual(current.RawDataMemory.Span));
            if (issuer is null)
            {
                break;
            }

            top = issuer;
        }

        return top;
    }

    /// <summary>Whether <paramref name="certificate"/>'s signature verifies with the key in
    /// <paramref name="subjectPublicKeyInfo"/>: ECDSA or RSA (PKCS #1 v1.5) with SHA-2; other algorithms do not.</summary>
    private static bool SignedBy(X509Certificate2 certificate, ReadOnlySpan<byte> subjectPublicKeyInfo)
    {
        try
        {
            var outer = new AsnReader(certificate.RawData, AsnEncodingRules.DER).ReadSequence();
            var signed = outer.ReadEncodedValue();
            var algorithm = outer.ReadSequence().ReadObjectIdentifier();
            var signature = outer.ReadBitString(out _);
            HashAlgorithmName? hash = algorithm switch
            {
                "1.2.840.10045.4.3.2" or "1.2.840.113549.1.1.11" => HashAlgorithmName.SHA256,
                "1.2.840.10045.4.3.3" or "1.2.840.113549.1.1.12" => HashAlgorithmName.SHA384,
                "1.2.840.10045.4.3.4" or "1.2.840.113549.1.1.13" => HashAlgorithmName.SHA512,
                _ => null,
            };
            if (hash is not { } name)
            {
                return false;
            }

            if (algorithm.StartsWith("1.2.840.10045.", StringComparison.Ordinal))
            {
                using var ecdsa = ECDsa.Create();
                ecdsa.ImportSubjectPublicKeyInfo(subjectPublicKeyInfo, out _);
                return ecdsa.VerifyData(signed.Span, signature, name, DSASignatureFormat.Rfc3279DerSequence);
            }

            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(subjectPublicKeyInfo, out _);
            return rsa.VerifyData(signed.Span, signature, name, RSASignaturePadding.Pkcs1);
        }
        catch (Exception e) when (e is AsnContentException or CryptographicException)
        {
            return false; // not a certificate or not a key of that kind: no signature of this key
        }
    }

    private static bool ChainContains(X509Chain chain, X509Certificate2 anchor) =>
        chain.ChainElements.Any(e => e.Certificate.RawDataMemory.Span.SequenceEqual(anchor.RawDataMemory.Span));
}
