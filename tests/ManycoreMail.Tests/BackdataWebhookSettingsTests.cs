using ManycoreMail.Config;

namespace ManycoreMail.Tests;

/// <summary><c>backdata/batch-size</c>, <c>timeout-seconds</c>, <c>signing-secrets</c> and <c>headers</c>: defaults as
/// the original, and every bad value an error naming file and key (and never echoing a secret or header value).</summary>
public sealed class BackdataWebhookSettingsTests
{
    private const string Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    private static LoadedConfig Load(string settings) =>
        ConfigLoader.Parse(MinimalGlobalConfig.Yaml, $"backdata:\n  post-url: http://127.0.0.1:9/events\n{settings}");

    [Fact]
    public void Defaults_are_the_originals_and_nothing_is_signed()
    {
        var backdata = Load("").Options.Backdata!;

        Assert.Equal(50, backdata.BatchSize);
        Assert.Equal(TimeSpan.FromSeconds(10), backdata.RequestTimeout);
        Assert.Empty(backdata.SigningSecrets);
        Assert.Empty(backdata.Headers);
    }

    [Fact]
    public void Every_setting_is_read()
    {
        var backdata = Load($"  batch-size: 7\n  timeout-seconds: 3\n  signing-secrets: [\"{Secret}\"]\n  headers:\n    Authorization: Bearer abc\n    X-Tenant: t1\n")
            .Options.Backdata!;

        Assert.Equal(7, backdata.BatchSize);
        Assert.Equal(TimeSpan.FromSeconds(3), backdata.RequestTimeout);
        Assert.Equal([Secret], backdata.SigningSecrets);
        Assert.Equal([new("Authorization", "Bearer abc"), new("X-Tenant", "t1")], backdata.Headers);
    }

    [Theory]
    [InlineData("  batch-size: 0\n", "customer.yaml: backdata/batch-size: ")]
    [InlineData("  timeout-seconds: none\n", "customer.yaml: backdata/timeout-seconds: ")]
    [InlineData("  signing-secrets: [\"whsec_c2hvcnQ=\"]\n", "customer.yaml: backdata/signing-secrets: secret #1 holds a key of 5 bytes")]
    [InlineData("  signing-secrets: [\"not-a-secret\"]\n", "customer.yaml: backdata/signing-secrets: secret #1 must start with 'whsec_'")]
    [InlineData("  headers:\n    webhook-signature: forged\n", "customer.yaml: backdata/headers/webhook-signature: is set by the mailer")]
    [InlineData("  headers:\n    \"Bad Name\": x\n", "customer.yaml: backdata/headers/Bad Name: is not an HTTP header name")]
    public void A_bad_value_is_an_error_naming_file_and_key(string settings, string expected)
    {
        var error = Assert.Throws<ConfigException>(() => Load(settings));

        var problem = Assert.Single(error.Problems, p => p.Contains("backdata/", StringComparison.Ordinal));
        Assert.StartsWith(expected, problem, StringComparison.Ordinal);
        Assert.DoesNotContain("forged", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("not-a-secret", problem, StringComparison.Ordinal);
    }
}
