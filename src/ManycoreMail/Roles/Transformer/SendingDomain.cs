using ManycoreMail.Config;
using ManycoreMail.Dkim;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Transformer;

/// <summary>A configured sending domain with its keys loaded once, in one signer (one signature per key valid at
/// the moment of signing).</summary>
internal sealed record SendingDomain(DomainSettings Settings, DkimSigner Signer)
{
    /// <summary>Loads every domain's keys; a key that cannot be read is a configuration error naming the file and key.
    /// A domain with no key valid at <paramref name="now"/> is only a warning: its messages go out unsigned until
    /// one is, which a rotation in progress may intend.</summary>
    public static IReadOnlyDictionary<string, SendingDomain> LoadAll(IReadOnlyList<DomainSettings> domains, DateTimeOffset now, ILogger logger)
    {
        var problems = new List<string>();
        var loaded = new Dictionary<string, SendingDomain>(StringComparer.OrdinalIgnoreCase);
        foreach (var settings in domains)
        {
            var keys = new List<DkimSigningKey>();
            foreach (var key in settings.DkimKeys)
            {
                try
                {
                    keys.Add(DkimSigningKey.Load(settings.Domain, key.Selector, File.ReadAllText(key.PrivateKeyFile)) with
                    {
                        NotBefore = key.NotBefore,
                        NotAfter = key.NotAfter,
                    });
                }
                catch (Exception e) when (e is DkimKeyException or IOException or UnauthorizedAccessException)
                {
                    problems.Add($"{key.ConfigKey}: {key.PrivateKeyFile}: {e.Message}");
                }
            }
            if (keys.Count != settings.DkimKeys.Count())
            {
                continue;
            }
            loaded[settings.Domain] = new SendingDomain(settings, new DkimSigner(keys, DkimSigner.DefaultHeaders, DkimSigner.DefaultOversign));
            if (!keys.Any(k => k.IsValidAt(now)))
            {
                logger.LogWarning("DKIM: no key of {Domain} is valid now ({Now:O}); its messages go out unsigned until one is (see not-before / not-after in {ConfigKey})",
                    settings.Domain, now, settings.ConfigKey);
            }
        }
        if (problems.Count > 0)
        {
            throw new ConfigException(problems);
        }
        return loaded;
    }
}
