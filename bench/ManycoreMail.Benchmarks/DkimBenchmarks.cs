using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using ManycoreMail.Dkim;

namespace ManycoreMail.Benchmarks;

/// <summary>Signing cost against the raw RSA sign rate (issue 7's target: at most 15% over it), and what an extra
/// Ed25519 key adds to a message (issue 15: one body pass whatever the number of keys).</summary>
[MemoryDiagnoser]
public class DkimBenchmarks
{
    private readonly RSA _rsa = RSA.Create(2048);
    private readonly byte[] _digest = SHA256.HashData("x"u8);
    private DkimSigner _signer = null!;
    private DkimSigner _ed25519Signer = null!;
    private DkimSigner _bothSigner = null!;
    private byte[] _message = [];

    [Params(5_000, 100_000)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _message = Messages.Create(Size);
        var rsaKey = new DkimSigningKey("sender.test", "mailer", _rsa);
        var ed25519Key = new DkimSigningKey("sender.test", "ed", NSec.Cryptography.Key.Create(NSec.Cryptography.SignatureAlgorithm.Ed25519));
        _signer = new DkimSigner(rsaKey, DkimSigner.DefaultHeaders, DkimSigner.DefaultOversign);
        _ed25519Signer = new DkimSigner(ed25519Key, DkimSigner.DefaultHeaders, DkimSigner.DefaultOversign);
        _bothSigner = new DkimSigner([rsaKey, ed25519Key], DkimSigner.DefaultHeaders, DkimSigner.DefaultOversign);
    }

    [Benchmark(Baseline = true)]
    public byte[] RawRsaSign() => _rsa.SignHash(_digest, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);

    [Benchmark]
    public byte[] Sign() => _signer.Sign(_message, DateTimeOffset.UnixEpoch);

    [Benchmark]
    public byte[] SignEd25519() => _ed25519Signer.Sign(_message, DateTimeOffset.UnixEpoch);

    /// <summary>Two signatures on one message: the difference to <see cref="Sign"/> is the extra Ed25519 key's cost.</summary>
    [Benchmark]
    public byte[] SignRsaAndEd25519() => _bothSigner.Sign(_message, DateTimeOffset.UnixEpoch);

    /// <summary>The floor under <see cref="BodyHashOnly"/>: SHA-256 of the message as it is, no canonicalisation.</summary>
    [Benchmark]
    public byte[] Sha256Only() => SHA256.HashData(_message);

    [Benchmark]
    public byte[] BodyHashOnly()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        RelaxedCanonicalization.HashBody(_message, hash);
        return hash.GetHashAndReset();
    }
}
