using ManycoreMail.Webhooks;

namespace ManycoreMail.Config;

/// <summary>Reads how backdata talks to the webhook (issue 14): <c>batch-size</c>, <c>timeout-seconds</c>,
/// <c>signing-secrets</c> and <c>headers</c>, into the options <see cref="ConfigLoader"/> built from <c>post-url</c>.</summary>
internal static class BackdataWebhookSettings
{
    /// <summary>Headers the mailer sets itself: a configured one would break the request or its signature.</summary>
    private static readonly HashSet<string> Reserved = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Content-Type", "Content-Length", "Transfer-Encoding", "Connection",
        StandardWebhookSigner.IdHeader, StandardWebhookSigner.TimestampHeader, StandardWebhookSigner.SignatureHeader,
    };

    public static BackdataOptions Read(YamlSection section, BackdataOptions options)
    {
        var batchSize = section.Int("batch-size", min: 1, max: 10_000);
        var timeout = section.Int("timeout-seconds", min: 1, max: 3600);
        var secrets = SigningSecretsReader.Read(section, "signing-secrets", required: false) ?? [];
        return options with
        {
            BatchSize = batchSize ?? options.BatchSize,
            RequestTimeout = timeout is { } seconds ? TimeSpan.FromSeconds(seconds) : options.RequestTimeout,
            SigningSecrets = secrets,
            Headers = ReadHeaders(section.Section("headers")),
        };
    }

    private static IReadOnlyList<KeyValuePair<string, string>> ReadHeaders(YamlSection headers)
    {
        var valid = new List<KeyValuePair<string, string>>();
        foreach (var (name, value) in headers.ScalarEntries())
        {
            // The value is never put in a message: it is usually a credential.
            if (name.Length == 0 || !name.All(IsTokenChar))
            {
                headers.Error(name, "is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)");
            }
            else if (Reserved.Contains(name))
            {
                headers.Error(name, "is set by the mailer itself and cannot be configured");
            }
            else if (value.Any(c => char.IsControl(c) && c != '\t'))
            {
                headers.Error(name, "the value holds a line break or another control character");
            }
            else
            {
                valid.Add(new(name, value.Trim()));
            }
        }
        return valid;
    }

    private static bool IsTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal);
}
