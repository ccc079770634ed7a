using ManycoreMail.Config;
using ManycoreMail.Dkim;

namespace ManycoreMail.Roles.Transformer;

/// <summary>A configured sending domain with its key loaded once.</summary>
internal sealed record SendingDomain(DomainSettings Settings, DkimSigner Signer)
{
    /// <summary>Loads every domain's key; a key that cannot be read is a configuration error naming the key.</summary>
    public static IReadOnlyDictionary<string, SendingDomain> LoadAll(IReadOnlyList<DomainSettings> domains, string configFile)
    {
        var problems = new List<string>();
        var loaded = new Dictionary<string, SendingDomain>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < domains.Count; i++)
        {
            var settings = domains[i];
            try
            {
                var rsa = DkimSigningKey.LoadRsaPrivateKey(File.ReadAllText(settings.DkimPrivateKeyFile));
                var key = new DkimSigningKey(settings.Domain, settings.Selector, rsa);
                loaded[settings.Domain] = new SendingDomain(settings, new DkimSigner(key, DkimSigner.DefaultHeaders, DkimSigner.DefaultOversign));
            }
            catch (Exception e) when (e is DkimKeyException or IOException or UnauthorizedAccessException)
            {
                problems.Add($"{configFile}: transformer/domain-settings[{i}]/dkim-private-key-file: {e.Message}");
            }
        }
        if (problems.Count > 0)
        {
            throw new ConfigException(problems);
        }
        return loaded;
    }
}
