using System.CommandLine;
using System.Security.Cryptography;
using System.Text;
using ManycoreMail.Config;
using ManycoreMail.Dkim;
using NSec.Cryptography;

namespace ManycoreMail.Cli;

/// <summary><c>mailer dkim keygen DOMAIN [--selector S] [--bits 2048 | --ed25519] [--out FILE] [--force]</c>: writes a
/// new RSA or Ed25519 key (PKCS#8 PEM, mode 0600) and prints the TXT record to publish.</summary>
internal static class DkimKeygenCommand
{
    public const int DefaultBits = 2048;
    public const int MaxBits = 4096;
    public const string DefaultSelector = "mailer";

    public static Command Build(Func<Command, Func<ParseResult, ConfigSources?>> addConfig)
    {
        var dkim = new Command("dkim", "DKIM keys of the sending domains.");
        var keygen = new Command("keygen", "Generate a DKIM key (mode 0600) and print the TXT record to publish.");
        var domain = new Argument<string>("DOMAIN") { Description = "The sending domain (d=)" };
        var selector = new Option<string?>("--selector") { Description = "Selector (s=); default: the domain's selector in transformer/domain-settings, else mailer" };
        var bits = new Option<int>("--bits") { Description = $"RSA key size ({DkimSigningKey.MinimumKeyBits}-{MaxBits})", DefaultValueFactory = _ => DefaultBits };
        var ed25519 = new Option<bool>("--ed25519") { Description = "An Ed25519 key (ed25519-sha256, RFC 8463) instead of RSA" };
        var output = new Option<string?>("--out") { Description = "Key file; default: the domain's dkim-private-key-file in the configuration, else DOMAIN.pem" };
        var force = new Option<bool>("--force") { Description = "Replace an existing key file" };
        keygen.Arguments.Add(domain);
        keygen.Options.Add(selector);
        keygen.Options.Add(bits);
        keygen.Options.Add(ed25519);
        keygen.Options.Add(output);
        keygen.Options.Add(force);
        var config = addConfig(keygen);
        keygen.SetAction(parse =>
        {
            var name = parse.GetValue(domain) ?? "";
            var configured = ConfiguredDomain(config(parse), name);
            var request = new KeygenRequest(
                name,
                parse.GetValue(selector) ?? configured.Selector ?? DefaultSelector,
                parse.GetValue(bits),
                parse.GetValue(output) ?? configured.KeyFile ?? name + ".pem",
                parse.GetValue(force))
            {
                Ed25519 = parse.GetValue(ed25519),
                BitsGiven = parse.GetResult(bits) is { Implicit: false },
            };
            return Run(request, Console.Out, Console.Error);
        });
        dkim.Subcommands.Add(keygen);
        return dkim;
    }

    /// <summary>The domain's selector and key file in the customer file's transformer/domain-settings, read without
    /// validating the configuration: it names a key file that keygen is about to create.</summary>
    private static (string? Selector, string? KeyFile) ConfiguredDomain(ConfigSources? sources, string domain)
    {
        var problems = new ConfigProblems();
        var customer = sources is null || sources.CustomerFile.Length == 0
            ? ConfigFile.Parse("(built-in customer)", LocalDefaults.CustomerYaml, problems)
            : ConfigFile.Load(sources.CustomerFile, problems);
        var settings = customer.Section("transformer").SectionList("domain-settings")
            .FirstOrDefault(item => string.Equals(item.String("domain")?.TrimEnd('.'), domain.TrimEnd('.'), StringComparison.OrdinalIgnoreCase));
        return (settings?.String("selector"), settings?.String("dkim-private-key-file"));
    }

    public static int Run(KeygenRequest request, TextWriter output, TextWriter error)
    {
        if (Uri.CheckHostName(request.Domain.TrimEnd('.')) != UriHostNameType.Dns)
        {
            error.WriteLine($"DOMAIN: '{request.Domain}' is not a domain name.");
            return 2;
        }
        if (request.Selector.Length == 0 || request.Selector.Split('.').Any(label => label.Length == 0 || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-')))
        {
            error.WriteLine($"--selector: '{request.Selector}' is not a selector (letters, digits, '-', dot-separated labels).");
            return 2;
        }
        if (request.Ed25519 && request.BitsGiven)
        {
            error.WriteLine("--bits: sizes an RSA key; an Ed25519 key (--ed25519) is always 256 bits.");
            return 2;
        }
        if (!request.Ed25519 && (request.Bits < DkimSigningKey.MinimumKeyBits || request.Bits > MaxBits || request.Bits % 8 != 0))
        {
            error.WriteLine($"--bits: {request.Bits} is not a multiple of 8 between {DkimSigningKey.MinimumKeyBits} (RFC 8301) and {MaxBits}.");
            return 2;
        }
        if (File.Exists(request.OutputFile) && !request.Force)
        {
            error.WriteLine($"--out: {request.OutputFile} exists; pass --force to replace it (the published record must then change too).");
            return 2;
        }

        var (pem, description) = request.Ed25519 ? NewEd25519Key() : NewRsaKey(request.Bits);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(request.OutputFile)) ?? ".");
            Hosting.PrivateFiles.Write(request.OutputFile, pem + "\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"--out: {request.OutputFile}: {e.Message}");
            return 1;
        }
        // The record comes from the file as the transformer will load it, so what is printed is what signs.
        var key = DkimSigningKey.Load(request.Domain.TrimEnd('.'), request.Selector, pem);
        output.WriteLine($"Wrote {description} to {request.OutputFile} (mode 0600). Publish this TXT record:");
        output.WriteLine(DkimTxtRecord.ZoneLine(key));
        return 0;
    }

    private static (string Pem, string Description) NewRsaKey(int bits)
    {
        using var rsa = RSA.Create(bits);
        return (rsa.ExportPkcs8PrivateKeyPem(), $"a {bits}-bit RSA key");
    }

    /// <summary>PKCS#8 with the Ed25519 OID (RFC 8410), the form <c>openssl genpkey -algorithm ed25519</c> writes.</summary>
    private static (string Pem, string Description) NewEd25519Key()
    {
        using var key = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        return (Encoding.ASCII.GetString(key.Export(KeyBlobFormat.PkixPrivateKeyText)).TrimEnd(), "an Ed25519 key");
    }
}

internal sealed record KeygenRequest(string Domain, string Selector, int Bits, string OutputFile, bool Force)
{
    public bool Ed25519 { get; init; }
    /// <summary>--bits was on the command line (it contradicts --ed25519).</summary>
    public bool BitsGiven { get; init; }
}
