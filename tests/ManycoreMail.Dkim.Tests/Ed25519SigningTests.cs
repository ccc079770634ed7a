using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using ManycoreMail.Mime;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Dkim.Tests;

/// <summary>ed25519-sha256 signing (RFC 8463), several keys per signer, and keys with a validity window.</summary>
public sealed class Ed25519SigningTests(TestKeys keys) : IClassFixture<TestKeys>
{
    /// <summary>RFC 8463 Appendix A.1: the Ed25519 private key (the 32-byte seed).</summary>
    private const string Rfc8463PrivateKey = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
    private const string Rfc8463BodyHash = "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=";
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>RFC 8410 PKCS#8 around a raw seed: what <c>openssl genpkey -algorithm ed25519</c> writes.</summary>
    private static string Pkcs8Pem(byte[] seed) =>
        PemEncoding.WriteString("PRIVATE KEY", [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20, .. seed]);

    private static DkimSigningKey Rfc8463Key() =>
        DkimSigningKey.Load(Rfc8463.Domain, "brisbane", Pkcs8Pem(Convert.FromBase64String(Rfc8463PrivateKey)));

    /// <summary>The RFC's message without its two signatures.</summary>
    private static byte[] Rfc8463Unsigned()
    {
        var text = Encoding.ASCII.GetString(Rfc8463.Message);
        return Encoding.ASCII.GetBytes(text[text.IndexOf("From: ", StringComparison.Ordinal)..]);
    }

    private static string Unfolded(byte[] fields) => Encoding.ASCII.GetString(fields).Replace("\r\n ", " ", StringComparison.Ordinal);

    private static string[] Selectors(byte[] fields) =>
        [.. Unfolded(fields).Split("\r\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(f => System.Text.RegularExpressions.Regex.Match(f, " s=([^;]+);").Groups[1].Value)];

    [Fact]
    public void Rfc8463_key_loads_as_ed25519_and_publishes_the_documented_record()
    {
        var key = Rfc8463Key();
        Assert.Equal(DkimAlgorithm.Ed25519Sha256, key.Algorithm);
        Assert.Equal("ed25519-sha256", key.AlgorithmName);
        Assert.Equal(Rfc8463.Ed25519Record, key.PublicKeyRecord());
        Assert.True(DkimKeyRecord.TryParse(Rfc8463.Ed25519Record, out var record, out _));
        Assert.True(key.IsPublishedBy(record));
    }

    [Fact]
    public void Rfc8463_signature_is_reproduced_byte_for_byte()
    {
        // Our fields carry other tags than the RFC's (no i= or q=, h= without spaces), so the documented b= can only be
        // reproduced over the RFC's own field: hash its header data as RFC 6376 §3.7 says and sign that hash.
        var message = Rfc8463.Message;
        var fields = new List<HeaderFieldRange>();
        var reader = new HeaderBlockReader(message);
        while (reader.Read(out var field) == HeaderReadStatus.Field)
        {
            fields.Add(field);
        }
        var value = Encoding.Latin1.GetString(message.AsSpan()[fields[0].ValueStart..fields[0].End]);
        Assert.True(DkimSignature.TryParse(value, out var signature, out var error, out _, out _), error);
        var headerHash = DkimHeaderHash.Compute(message, fields, 0, signature, HashAlgorithmName.SHA256);

        var produced = new byte[64];
        var length = Rfc8463Key().SignHash(headerHash, produced);

        Assert.Equal(64, length);
        Assert.Equal("/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==", Convert.ToBase64String(produced));
    }

    [Fact]
    public async Task Our_ed25519_signature_of_the_rfc_message_has_its_body_hash_and_verifies()
    {
        var message = Rfc8463Unsigned();
        var signer = new DkimSigner(Rfc8463Key(), DkimSigner.DefaultHeaders, DkimSigner.DefaultOversign);

        var field = signer.Sign(message, Now);

        var text = Unfolded(field);
        Assert.StartsWith("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=football.example.com; s=brisbane;", text, StringComparison.Ordinal);
        Assert.Contains($"bh={Rfc8463BodyHash};", text, StringComparison.Ordinal);
        var verifier = new DkimVerifier(Rfc8463.Keys(), TimeProvider.System);
        var result = Assert.Single(await verifier.VerifyAsync(new([.. field, .. message]), CancellationToken.None));
        Assert.True(result.Result == DkimResult.Pass, result.ToString());
    }

    [Fact]
    public async Task Rsa_and_ed25519_keys_each_sign_rsa_first_and_dkimpy_verifies_both()
    {
        using var rsa = DkimSigningKey.LoadRsaPrivateKey(keys.Pem(2048, pkcs8: true));
        var ed25519 = DkimSigningKey.Load("example.org", "ed", Pkcs8Pem(RandomNumberGenerator.GetBytes(32)));
        var rsaKey = new DkimSigningKey("example.org", "rsa", rsa);
        // Given Ed25519 first: the signer still writes RSA first.
        var signer = new DkimSigner([ed25519, rsaKey], DkimSigner.DefaultHeaders, DkimSigner.DefaultOversign);
        var message = Encoding.ASCII.GetBytes("From: a@example.org\r\nTo: b@example.net\r\nSubject: two keys\r\n\r\nHello  there. \r\n\r\n");

        var fields = signer.Sign(message, Now);

        Assert.Equal(["rsa", "ed"], Selectors(fields));
        var bodyHashes = System.Text.RegularExpressions.Regex.Matches(Unfolded(fields), "bh=([^;]+);").Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(2, bodyHashes.Length);
        Assert.Equal(bodyHashes[0], bodyHashes[1]);
        var (valid, output) = await DkimpyAll.VerifyAsync([.. fields, .. message], new Dictionary<string, string>
        {
            ["rsa._domainkey.example.org"] = rsaKey.PublicKeyRecord(),
            ["ed._domainkey.example.org"] = ed25519.PublicKeyRecord(),
        });
        Assert.True(valid, $"{Encoding.ASCII.GetString(fields)}\n{output}");
    }

    [Fact]
    public void A_key_outside_its_window_does_not_sign()
    {
        var seed = RandomNumberGenerator.GetBytes(32);
        var pem = Pkcs8Pem(seed);
        var retired = DkimSigningKey.Load("example.org", "retired", pem) with { NotAfter = Now.AddSeconds(-1) };
        var current = DkimSigningKey.Load("example.org", "current", pem) with { NotBefore = Now.AddDays(-30), NotAfter = Now.AddDays(30) };
        var upcoming = DkimSigningKey.Load("example.org", "upcoming", pem) with { NotBefore = Now.AddSeconds(1) };
        var signer = new DkimSigner([retired, current, upcoming], DkimSigner.DefaultHeaders, DkimSigner.DefaultOversign);
        var message = "From: a@example.org\r\nSubject: rotation\r\n\r\nbody\r\n"u8.ToArray();

        Assert.Equal(["current"], Selectors(signer.Sign(message, Now)));
        Assert.Equal(["retired", "current"], Selectors(signer.Sign(message, Now.AddSeconds(-1))));
        Assert.Equal(["current", "upcoming"], Selectors(signer.Sign(message, Now.AddSeconds(1))));
        Assert.Equal(["upcoming"], Selectors(signer.Sign(message, Now.AddDays(31))));
        Assert.True(signer.HasKeyValidAt(Now));
    }

    [Fact]
    public void No_key_valid_gives_no_signature()
    {
        var key = DkimSigningKey.Load("example.org", "old", Pkcs8Pem(RandomNumberGenerator.GetBytes(32))) with { NotAfter = Now.AddDays(-1) };
        var signer = new DkimSigner(key, DkimSigner.DefaultHeaders, DkimSigner.DefaultOversign);

        Assert.False(signer.HasKeyValidAt(Now));
        Assert.Empty(signer.Sign("From: a@example.org\r\n\r\nbody\r\n"u8, Now));
    }

    [Fact]
    public void Two_keys_with_one_selector_are_refused()
    {
        var pem = Pkcs8Pem(RandomNumberGenerator.GetBytes(32));
        var error = Assert.Throws<ArgumentException>(() => new DkimSigner(
            [DkimSigningKey.Load("example.org", "s1", pem), DkimSigningKey.Load("example.org", "S1", pem)], DkimSigner.DefaultHeaders, DkimSigner.DefaultOversign));
        Assert.Contains("'s1'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_takes_the_algorithm_from_the_key()
    {
        Assert.Equal(DkimAlgorithm.RsaSha256, DkimSigningKey.Load("example.org", "s", keys.Pem(2048, pkcs8: true)).Algorithm);
        Assert.Equal(DkimAlgorithm.RsaSha256, DkimSigningKey.Load("example.org", "s", keys.Pem(2048, pkcs8: false)).Algorithm);
        Assert.Equal(DkimAlgorithm.Ed25519Sha256, DkimSigningKey.Load("example.org", "s", Pkcs8Pem(RandomNumberGenerator.GetBytes(32))).Algorithm);
    }

    [Fact]
    public void Load_refuses_an_ec_key_as_an_unknown_algorithm()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var error = Assert.Throws<DkimKeyException>(() => DkimSigningKey.Load("example.org", "s", ec.ExportPkcs8PrivateKeyPem()));
        Assert.Contains("unknown algorithm (EC", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_refuses_an_ed25519_structure_with_a_short_key()
    {
        var pem = PemEncoding.WriteString("PRIVATE KEY", [0x30, 0x0e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x02, 0x04, 0x00]);
        var error = Assert.Throws<DkimKeyException>(() => DkimSigningKey.Load("example.org", "s", pem));
        Assert.Contains("Ed25519", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_from_openssl_genpkey_loads_and_signs()
    {
        var start = new ProcessStartInfo("/usr/bin/openssl", ["genpkey", "-algorithm", "ed25519"]) { RedirectStandardOutput = true, UseShellExecute = false };
        using var process = Process.Start(start)!;
        var pem = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Equal(0, process.ExitCode);

        var key = DkimSigningKey.Load("example.org", "openssl", pem);

        Assert.Equal(DkimAlgorithm.Ed25519Sha256, key.Algorithm);
        var message = "From: a@example.org\r\nTo: b@example.net\r\n\r\nbody\r\n"u8.ToArray();
        var field = new DkimSigner(key, DkimSigner.DefaultHeaders, DkimSigner.DefaultOversign).Sign(message, Now);
        var verifier = new DkimVerifier(new StaticKeyResolver().Add("openssl", "example.org", key.PublicKeyRecord()), TimeProvider.System);
        Assert.Equal(DkimResult.Pass, Assert.Single(await verifier.VerifyAsync(new([.. field, .. message]), CancellationToken.None)).Result);
    }
}
