using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using ManycoreMail.Config;
using ManycoreMail.Dkim;
using ManycoreMail.Roles.Transformer;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.Tests;

/// <summary>A domain with an RSA and an Ed25519 key: the transformer signs with each key valid at the moment
/// (given, as the role takes it from its TimeProvider), and dkimpy verifies every signature.</summary>
public sealed partial class TransformerDkimKeysTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 10, 37, 42, TimeSpan.Zero);
    private readonly string _directory = Directory.CreateTempSubdirectory("mm-dkimkeys-").FullName;
    private readonly string _rsaFile;
    private readonly string _ed25519File;

    public TransformerDkimKeysTests()
    {
        _rsaFile = Path.Combine(_directory, "rsa.pem");
        _ed25519File = Path.Combine(_directory, "ed.pem");
        using var rsa = RSA.Create(2048);
        File.WriteAllText(_rsaFile, rsa.ExportPkcs8PrivateKeyPem());
        using var ed25519 = NSec.Cryptography.Key.Create(NSec.Cryptography.SignatureAlgorithm.Ed25519,
            new NSec.Cryptography.KeyCreationParameters { ExportPolicy = NSec.Cryptography.KeyExportPolicies.AllowPlaintextExport });
        File.WriteAllBytes(_ed25519File, ed25519.Export(NSec.Cryptography.KeyBlobFormat.PkixPrivateKeyText));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private const string Message =
        "From: Sender <sender@example.org>\r\n" +
        "To: rcpt@example.net\r\n" +
        "Subject: two signatures\r\n" +
        "X-Uuid: abc123\r\n" +
        "\r\n" +
        "Hello,  signed twice.\r\n";

    private DomainSettings Settings(DateTimeOffset? rsaNotAfter = null, DateTimeOffset? ed25519NotBefore = null) => new()
    {
        Domain = "example.org",
        DkimPrivateKeyFile = _rsaFile,
        Selector = "rsa",
        ReturnPathDomain = "returns.example.org",
        DkimNotAfter = rsaNotAfter,
        ConfigKey = "c.yaml: transformer/domain-settings[0]",
        // Listed before nothing else, yet signs second: RSA first.
        ExtraDkimKeys = [new DkimKeySettings("ed", _ed25519File, "c.yaml: transformer/domain-settings[0]/extra-dkim-keys[0]/private-key-file") { NotBefore = ed25519NotBefore }],
    };

    private static (byte[] Message, TransformOutcome.Ready Ready) Transform(DomainSettings settings)
    {
        var domains = SendingDomain.LoadAll([settings], Now, NullLogger.Instance);
        var options = new TransformerOptions
        {
            XMailer = null,
            InjectHeaders = [new("List-Unsubscribe", "<mailto:unsub-{{uuid}}@{{from-domain}}>")],
            Domains = [settings],
        };
        var submitted = Encoding.ASCII.GetBytes(Message);
        var ready = Assert.IsType<TransformOutcome.Ready>(new MessageTransformer(options, domains).Transform(submitted, Now));
        return (Assert.Single(ready.Messages).Message(submitted), ready);
    }

    private static Dictionary<string, string> Records(IReadOnlyDictionary<string, SendingDomain> domains) =>
        domains["example.org"].Signer.Keys.ToDictionary(k => $"{k.Selector}._domainkey.example.org", k => k.PublicKeyRecord());

    private static string[] Signatures(byte[] message) =>
        [.. SignatureField().Matches(Encoding.ASCII.GetString(message).Replace("\r\n ", " ", StringComparison.Ordinal)).Select(m => m.Groups[1].Value + "/" + m.Groups[2].Value)];

    [Fact]
    public async Task Each_key_signs_rsa_first_and_dkimpy_verifies_both()
    {
        var settings = Settings();
        var (message, ready) = Transform(settings);

        Assert.Equal(["rsa-sha256/rsa", "ed25519-sha256/ed"], Signatures(message));
        Assert.Empty(ready.Warnings);
        var (valid, output) = await DkimpyAll.VerifyAsync(message, Records(SendingDomain.LoadAll([settings], Now, NullLogger.Instance)));
        Assert.True(valid, $"{Encoding.ASCII.GetString(message)}\n{output}");
        Assert.Contains("signatures 2 [True, True]", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_past_its_not_after_does_not_sign()
    {
        var (message, _) = Transform(Settings(rsaNotAfter: Now.AddSeconds(-1)));

        Assert.Equal(["ed25519-sha256/ed"], Signatures(message));
    }

    [Fact]
    public void A_key_before_its_not_before_does_not_sign()
    {
        var (message, _) = Transform(Settings(ed25519NotBefore: Now.AddSeconds(1)));

        Assert.Equal(["rsa-sha256/rsa"], Signatures(message));
    }

    [Fact]
    public void With_no_key_valid_the_message_goes_unsigned_with_a_warning()
    {
        var (message, ready) = Transform(Settings(rsaNotAfter: Now.AddDays(-1), ed25519NotBefore: Now.AddDays(1)));

        Assert.Empty(Signatures(message));
        Assert.Contains(ready.Warnings, w => w.Contains("no DKIM key of example.org is valid now", StringComparison.Ordinal));
    }

    [Fact]
    public void A_key_of_an_unknown_algorithm_is_a_config_error_naming_file_and_key()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        File.WriteAllText(_ed25519File, ec.ExportPkcs8PrivateKeyPem());

        var error = Assert.Throws<ConfigException>(() => SendingDomain.LoadAll([Settings()], Now, NullLogger.Instance));

        var problem = Assert.Single(error.Problems);
        Assert.StartsWith($"c.yaml: transformer/domain-settings[0]/extra-dkim-keys[0]/private-key-file: {_ed25519File}: ", problem, StringComparison.Ordinal);
        Assert.Contains("unknown algorithm (EC", problem, StringComparison.Ordinal);
    }

    [GeneratedRegex("DKIM-Signature: v=1; a=([^;]+);.*? s=([^;]+);")]
    private static partial Regex SignatureField();
}
