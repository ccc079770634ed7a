using System.Text;
using static ManycoreMail.Dkim.Tests.DkimVerifierTests;

namespace ManycoreMail.Dkim.Tests;

/// <summary>Messages signed by dkimpy verify here, and tampering with them is caught.</summary>
public sealed class DkimpyInteropTests(TestKeys keys) : IClassFixture<TestKeys>
{
    private string RsaRecord => $"v=DKIM1; k=rsa; p={Convert.ToBase64String(keys.Rsa2048.ExportSubjectPublicKeyInfo())}";

    private DkimpySignature Rsa(string header = "relaxed", string body = "relaxed", string algorithm = "rsa-sha256", bool length = false) =>
        new(Selector, Domain, algorithm, header, body, length, keys.Rsa2048.ExportRSAPrivateKeyPem(), MessageHeaders);

    private static DkimpySignature Ed25519(string header = "relaxed", string body = "relaxed") =>
        new("ed", Domain, "ed25519-sha256", header, body, Headers: MessageHeaders);

    private StaticKeyResolver KeysFor(IReadOnlyList<string?> ed25519Keys)
    {
        var resolver = new StaticKeyResolver().Add(Selector, Domain, RsaRecord);
        foreach (var key in ed25519Keys.OfType<string>())
        {
            resolver.Add("ed", Domain, $"v=DKIM1; k=ed25519; p={key}");
        }
        return resolver;
    }

    [Theory]
    [InlineData("relaxed", "relaxed")]
    [InlineData("relaxed", "simple")]
    [InlineData("simple", "relaxed")]
    [InlineData("simple", "simple")]
    public async Task Rsa_sha256_signatures_by_dkimpy_pass(string header, string body)
    {
        var (signed, ed) = await DkimpySigner.SignAsync(Message, Rsa(header, body));

        var result = Assert.Single(await VerifyAsync(signed, KeysFor(ed)));

        Assert.Equal((DkimResult.Pass, "signature verified"), (result.Result, result.Reason));
    }

    [Theory]
    [InlineData("relaxed", "relaxed")]
    [InlineData("simple", "simple")]
    public async Task Ed25519_signatures_by_dkimpy_pass(string header, string body)
    {
        var (signed, ed) = await DkimpySigner.SignAsync(Message, Ed25519(header, body));

        var result = Assert.Single(await VerifyAsync(signed, KeysFor(ed)));

        Assert.Equal((DkimResult.Pass, "ed25519-sha256"), (result.Result, result.Algorithm));
    }

    [Fact]
    public async Task Rsa_sha1_verifies_but_is_reported_as_policy_and_weak()
    {
        var (signed, ed) = await DkimpySigner.SignAsync(Message, Rsa(algorithm: "rsa-sha1"));
        var tampered = Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(signed).Replace("Suzie Q", "Mallory"));

        var result = Assert.Single(await VerifyAsync(signed, KeysFor(ed)));
        var broken = Assert.Single(await VerifyAsync(tampered, KeysFor(ed)));

        Assert.Equal((DkimResult.Policy, true), (result.Result, result.IsWeak));
        Assert.Equal(DkimResult.Fail, broken.Result);
    }

    [Fact]
    public async Task Several_signatures_are_each_verified_top_first()
    {
        var (signed, ed) = await DkimpySigner.SignAsync(Message, Rsa("simple", "simple"), Ed25519(), Rsa(algorithm: "rsa-sha1"));
        var withoutEdKey = new StaticKeyResolver().Add(Selector, Domain, RsaRecord);

        var results = await VerifyAsync(signed, KeysFor(ed));
        var partial = await VerifyAsync(signed, withoutEdKey);

        Assert.Equal([DkimResult.Policy, DkimResult.Pass, DkimResult.Pass], results.Select(r => r.Result));
        Assert.Equal(["rsa-sha1", "ed25519-sha256", "rsa-sha256"], results.Select(r => r.Algorithm));
        Assert.Equal([DkimResult.Policy, DkimResult.PermError, DkimResult.Pass], partial.Select(r => r.Result));
    }

    [Theory]
    [InlineData("relaxed")]
    [InlineData("simple")]
    public async Task With_l_content_appended_after_the_signed_length_still_passes_and_a_shorter_body_fails(string body)
    {
        var (signed, ed) = await DkimpySigner.SignAsync(Message, Rsa(body: body, length: true));
        byte[] appended = [.. signed, .. "P.S. click here\r\n"u8];
        var text = Encoding.ASCII.GetString(signed);
        var truncated = Encoding.ASCII.GetBytes(text[..(text.IndexOf("We lost", StringComparison.Ordinal))]);

        Assert.Contains("l=", text.Replace("\r\n ", ""), StringComparison.Ordinal);
        Assert.Equal(DkimResult.Pass, Assert.Single(await VerifyAsync(appended, KeysFor(ed))).Result);
        var shorter = Assert.Single(await VerifyAsync(truncated, KeysFor(ed)));
        Assert.Equal(DkimResult.Fail, shorter.Result);
        Assert.Contains("longer than the canonical body", shorter.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rsa-sha256", "simple", "simple")]
    [InlineData("rsa-sha256", "relaxed", "simple")]
    [InlineData("ed25519-sha256", "relaxed", "relaxed")]
    public async Task Every_single_byte_change_of_a_signed_header_or_the_body_fails(string algorithm, string header, string body)
    {
        var signature = algorithm == "ed25519-sha256" ? Ed25519(header, body) : Rsa(header, body);
        var (signed, ed) = await DkimpySigner.SignAsync(Message, signature);
        var resolver = KeysFor(ed);
        var offset = signed.Length - Message.Length;
        Assert.Equal(DkimResult.Pass, Assert.Single(await VerifyAsync(signed, resolver)).Result);
        for (var i = offset; i < signed.Length; i++)
        {
            var tampered = (byte[])signed.Clone();
            tampered[i] = tampered[i] == (byte)'#' ? (byte)'%' : (byte)'#';
            var results = await VerifyAsync(tampered, resolver);
            Assert.True(results.All(r => r.Result != DkimResult.Pass), $"changing byte {i - offset} still passed");
        }
    }
}
