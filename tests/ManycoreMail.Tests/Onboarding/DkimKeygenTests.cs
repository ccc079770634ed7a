using System.Security.Cryptography;
using System.Text.RegularExpressions;
using ManycoreMail.Cli;
using ManycoreMail.Dkim;

namespace ManycoreMail.Tests.Onboarding;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed partial class DkimKeygenTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mm-keygen-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Keygen_writes_a_0600_key_the_signer_loads_and_prints_its_record_in_255_character_strings()
    {
        var file = Path.Combine(_directory, "example.org.pem");
        var output = new StringWriter();
        var error = new StringWriter();

        var exit = DkimKeygenCommand.Run(new KeygenRequest("example.org", "s2026", 2048, file, Force: false), output, error);

        Assert.True(exit == 0, error.ToString());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        using var key = DkimSigningKey.LoadRsaPrivateKey(File.ReadAllText(file));
        Assert.Equal(2048, key.KeySize);
        var line = output.ToString().Split('\n').Single(l => l.Contains(" IN TXT ", StringComparison.Ordinal));
        Assert.StartsWith("s2026._domainkey.example.org. IN TXT \"v=DKIM1; k=rsa; p=", line, StringComparison.Ordinal);
        var strings = QuotedString().Matches(line).Select(m => m.Groups[1].Value).ToArray();
        Assert.True(strings.Length > 1, line);
        Assert.All(strings, s => Assert.InRange(s.Length, 1, 255));
        Assert.True(DkimKeyRecord.TryParse(string.Concat(strings), out var record, out var problem), problem);
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), record.PublicKey);
    }

    [Fact]
    public void Keygen_refuses_to_overwrite_a_key_without_force_and_replaces_it_0600_with_force()
    {
        var file = Path.Combine(_directory, "key.pem");
        File.WriteAllText(file, "old key");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var error = new StringWriter();

        Assert.Equal(2, DkimKeygenCommand.Run(new KeygenRequest("example.org", "mailer", 1024, file, Force: false), TextWriter.Null, error));
        Assert.Contains("--force", error.ToString(), StringComparison.Ordinal);
        Assert.Equal("old key", File.ReadAllText(file));

        Assert.Equal(0, DkimKeygenCommand.Run(new KeygenRequest("example.org", "mailer", 1024, file, Force: true), TextWriter.Null, TextWriter.Null));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        using var key = DkimSigningKey.LoadRsaPrivateKey(File.ReadAllText(file));
        Assert.Equal(1024, key.KeySize);
    }

    [Theory]
    [InlineData("example.org", "mailer", 512, "--bits")]
    [InlineData("not a domain", "mailer", 2048, "DOMAIN")]
    [InlineData("example.org", "bad_selector", 2048, "--selector")]
    public void Keygen_names_the_bad_argument_and_writes_nothing(string domain, string selector, int bits, string named)
    {
        var file = Path.Combine(_directory, "key.pem");
        var error = new StringWriter();

        Assert.Equal(2, DkimKeygenCommand.Run(new KeygenRequest(domain, selector, bits, file, Force: false), TextWriter.Null, error));

        Assert.StartsWith(named + ":", error.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(file));
    }

    [Fact]
    public async Task Keygen_ed25519_writes_a_0600_pkcs8_key_whose_printed_record_verifies_its_signatures()
    {
        var file = Path.Combine(_directory, "ed.pem");
        var output = new StringWriter();
        var error = new StringWriter();

        var exit = DkimKeygenCommand.Run(new KeygenRequest("example.org", "ed2026", 2048, file, Force: false) { Ed25519 = true }, output, error);

        Assert.True(exit == 0, error.ToString());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        var pem = File.ReadAllText(file);
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", pem, StringComparison.Ordinal);
        var key = DkimSigningKey.Load("example.org", "ed2026", pem);
        Assert.Equal(DkimAlgorithm.Ed25519Sha256, key.Algorithm);
        var line = output.ToString().Split('\n').Single(l => l.Contains(" IN TXT ", StringComparison.Ordinal));
        Assert.StartsWith("ed2026._domainkey.example.org. IN TXT \"v=DKIM1; k=ed25519; p=", line, StringComparison.Ordinal);
        var published = Assert.Single(QuotedString().Matches(line)).Groups[1].Value;
        Assert.True(DkimKeyRecord.TryParse(published, out var record, out var problem), problem);
        Assert.Equal(32, record.PublicKey.Length);

        // The printed record verifies what the key in the file signs.
        var message = "From: a@example.org\r\nTo: b@example.net\r\n\r\nbody\r\n"u8.ToArray();
        var field = new DkimSigner(key, DkimSigner.DefaultHeaders, DkimSigner.DefaultOversign).Sign(message, DateTimeOffset.UtcNow);
        var verifier = new DkimVerifier(new OneRecord("ed2026._domainkey.example.org", published), TimeProvider.System);
        var result = Assert.Single(await verifier.VerifyAsync(new([.. field, .. message]), CancellationToken.None));
        Assert.Equal(DkimResult.Pass, result.Result);
    }

    [Fact]
    public void Keygen_ed25519_refuses_bits()
    {
        var file = Path.Combine(_directory, "ed.pem");
        var error = new StringWriter();

        var exit = DkimKeygenCommand.Run(new KeygenRequest("example.org", "ed", 2048, file, Force: false) { Ed25519 = true, BitsGiven = true }, TextWriter.Null, error);

        Assert.Equal(2, exit);
        Assert.StartsWith("--bits:", error.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(file));
    }

    private sealed class OneRecord(string name, string record) : IDkimKeyResolver
    {
        public ValueTask<DkimKeyLookup> LookupAsync(string selector, string domain, CancellationToken cancellationToken) =>
            ValueTask.FromResult($"{selector}._domainkey.{domain}" == name
                ? new DkimKeyLookup(DkimKeyLookupStatus.Found, [record])
                : new DkimKeyLookup(DkimKeyLookupStatus.NotFound, []));
    }

    [GeneratedRegex("\"([^\"]*)\"")]
    private static partial Regex QuotedString();
}
