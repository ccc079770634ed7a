using System.Security.Cryptography;

namespace ManycoreMail.Dkim.Tests;

/// <summary>Keys generated once per test run (generation is the slow part), exported as PEM in both forms.</summary>
public sealed class TestKeys : IDisposable
{
    private readonly RSA _rsa1024 = RSA.Create(1024);
    private readonly RSA _rsa2048 = RSA.Create(2048);

    /// <summary>The 2048-bit key itself, for signing and publishing in verifier tests.</summary>
    public RSA Rsa2048 => _rsa2048;

    public string Pem(int bits, bool pkcs8)
    {
        var rsa = bits == 1024 ? _rsa1024 : _rsa2048;
        return pkcs8 ? rsa.ExportPkcs8PrivateKeyPem() : rsa.ExportRSAPrivateKeyPem();
    }

    public void Dispose()
    {
        _rsa1024.Dispose();
        _rsa2048.Dispose();
    }
}
