using ManycoreMail.Config;

namespace ManycoreMail.Webhooks;

/// <summary>Reads a list of Standard Webhooks signing secrets from configuration, for every webhook that signs
/// (inbound routes, backdata): one rule for what a valid list is, and errors that never echo a secret.</summary>
internal static class SigningSecretsReader
{
    public const string Expected = "a list of Standard Webhooks secrets (whsec_ + base64 of 24 to 64 bytes)";

    /// <summary>The secrets under <paramref name="key"/>, trimmed; null (with an error recorded) when they are not
    /// valid, or when the key is absent and <paramref name="required"/>. Absent and optional: an empty list.</summary>
    public static IReadOnlyList<string>? Read(YamlSection section, string key, bool required)
    {
        if (!section.Has(key))
        {
            if (required)
            {
                section.Error(key, $"is required: {Expected}");
                return null;
            }
            return [];
        }
        var secrets = section.StringList(key).Select(s => s.Trim()).ToArray();
        try
        {
            _ = new StandardWebhookSigner(secrets);
        }
        catch (WebhookSecretException e)
        {
            section.Error(key, e.Message);
            return null;
        }
        if (secrets.Distinct(StringComparer.Ordinal).Count() != secrets.Length)
        {
            section.Error(key, "lists the same secret twice");
            return null;
        }
        return secrets;
    }
}
