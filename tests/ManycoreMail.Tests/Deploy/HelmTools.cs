namespace ManycoreMail.Tests.Deploy;

/// <summary>The real helm binary and the manifest validator (tests/tools/k8s-validate) that ./test.sh fetches and
/// names in MAILER_TEST_HELM and MAILER_TEST_K8S_VALIDATE; null when a test runs without them.</summary>
internal sealed record HelmTools(string Helm, string Validator)
{
    public const string Missing =
        "needs MAILER_TEST_HELM (a helm binary) and MAILER_TEST_K8S_VALIDATE (tests/tools/k8s-validate/validate.mjs after npm ci); ./test.sh provides both";

    public static HelmTools? FromEnvironment() =>
        Environment.GetEnvironmentVariable("MAILER_TEST_HELM") is { Length: > 0 } helm
        && Environment.GetEnvironmentVariable("MAILER_TEST_K8S_VALIDATE") is { Length: > 0 } validator
            ? new HelmTools(helm, validator)
            : null;

    public static HelmTools Required => FromEnvironment() ?? throw new InvalidOperationException(Missing);
}

/// <summary>A theory over the chart's renderings with the real helm: skipped, saying why, when the tools are not named.</summary>
public sealed class HelmTheoryAttribute : TheoryAttribute
{
    public HelmTheoryAttribute()
    {
        if (HelmTools.FromEnvironment() is null)
        {
            Skip = HelmTools.Missing;
        }
    }
}
