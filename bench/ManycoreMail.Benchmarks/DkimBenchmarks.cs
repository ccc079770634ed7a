using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using ManycoreMail.Dkim;

namespace ManycoreMail.Benchmarks;

/// <summary>Signing cost against the raw RSA sign rate (issue 7's target: at most 15% over it).</summary>
[MemoryDiagnoser]
public class DkimBenchmarks
{
    private readonly RSA _rsa = RSA.Create(2048);
    private readonly byte[] _digest = SHA256.HashData("x"u8);
    private DkimSigner _signer = null!;
    private byte[] _message = [];

    [Params(5_000, 100_000)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _message = Messages.Create(Size);
        _signer = new DkimSigner(new DkimSigningKey("sender.test", "mailer", _rsa), DkimSigner.DefaultHeaders, DkimSigner.DefaultOversign);
    }

    [Benchmark(Baseline = true)]
    public byte[] RawRsaSign() => _rsa.SignHash(_digest, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);

    [Benchmark]
    public byte[] Sign() => _signer.Sign(_message, DateTimeOffset.UnixEpoch);

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
