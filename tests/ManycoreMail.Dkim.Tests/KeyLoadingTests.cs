using System.Security.Cryptography;

namespace ManycoreMail.Dkim.Tests;

public sealed class KeyLoadingTests(TestKeys keys) : IClassFixture<TestKeys>
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Loads_pkcs1_and_pkcs8_keys(bool pkcs8)
    {
        var pem = keys.Pem(2048, pkcs8);
        Assert.Contains(pkcs8 ? "BEGIN PRIVATE KEY" : "BEGIN RSA PRIVATE KEY", pem, StringComparison.Ordinal);
        using var rsa = DkimSigningKey.LoadRsaPrivateKey(pem);
        Assert.Equal(2048, rsa.KeySize);
        // It really is the private key: it signs, and the signature checks out.
        var hash = SHA256.HashData("x"u8);
        var signature = rsa.SignHash(hash, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        Assert.True(rsa.VerifyHash(hash, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    [Fact]
    public void Loads_a_key_surrounded_by_other_text_and_blocks()
    {
        using var other = RSA.Create(1024);
        var pem = "# comment\n" + other.ExportSubjectPublicKeyInfoPem() + "\n" + keys.Pem(1024, false) + "\ntrailer\n";
        using var rsa = DkimSigningKey.LoadRsaPrivateKey(pem);
        Assert.Equal(1024, rsa.KeySize);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   \n", "empty")]
    [InlineData("just some text", "No PEM block")]
    public void Rejects_text_without_a_key(string pem, string expected)
    {
        var error = Assert.Throws<DkimKeyException>(() => DkimSigningKey.LoadRsaPrivateKey(pem));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rejects_a_public_key_and_says_so()
    {
        using var rsa = RSA.Create(1024);
        var error = Assert.Throws<DkimKeyException>(() => DkimSigningKey.LoadRsaPrivateKey(rsa.ExportSubjectPublicKeyInfoPem()));
        Assert.Contains("public key", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rejects_an_encrypted_key_and_says_so()
    {
        using var rsa = RSA.Create(1024);
        var pem = rsa.ExportEncryptedPkcs8PrivateKeyPem("secret", new PbeParameters(PbeEncryptionAlgorithm.Aes128Cbc, HashAlgorithmName.SHA256, 1));
        var error = Assert.Throws<DkimKeyException>(() => DkimSigningKey.LoadRsaPrivateKey(pem));
        Assert.Contains("encrypted", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rejects_an_ec_key_without_echoing_key_material()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var pem = ec.ExportPkcs8PrivateKeyPem();
        var error = Assert.Throws<DkimKeyException>(() => DkimSigningKey.LoadRsaPrivateKey(pem));
        Assert.Contains("not a well-formed RSA key", error.Message, StringComparison.Ordinal);
        var body = pem.Split('\n')[1];
        Assert.DoesNotContain(body[..20], error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Rejects_a_corrupted_key_without_echoing_key_material()
    {
        var pem = keys.Pem(1024, false);
        var lines = pem.Split('\n');
        lines[3] = new string('A', lines[3].Length);
        var corrupted = string.Join('\n', lines);
        var error = Assert.Throws<DkimKeyException>(() => DkimSigningKey.LoadRsaPrivateKey(corrupted));
        Assert.DoesNotContain(lines[1][..20], error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(lines[1][..20], error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Rejects_two_private_keys()
    {
        var pem = keys.Pem(1024, false) + "\n" + keys.Pem(2048, true);
        var error = Assert.Throws<DkimKeyException>(() => DkimSigningKey.LoadRsaPrivateKey(pem));
        Assert.Contains("more than one", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rejects_a_key_shorter_than_1024_bits()
    {
        using var small = RSA.Create();
        small.ImportParameters(SmallKey());
        var error = Assert.Throws<DkimKeyException>(() => DkimSigningKey.LoadRsaPrivateKey(small.ExportRSAPrivateKeyPem()));
        Assert.Contains("RFC 8301", error.Message, StringComparison.Ordinal);
    }

    private static RSAParameters SmallKey()
    {
        using var rsa = RSA.Create(512);
        return rsa.ExportParameters(includePrivateParameters: true);
    }
}
