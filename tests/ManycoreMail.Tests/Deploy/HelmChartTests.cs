using System.Security.Cryptography;
using ManycoreMail.Config;
using ManycoreMail.Hosting;
using ManycoreMail.TestSupport;
using YamlDotNet.RepresentationModel;

namespace ManycoreMail.Tests.Deploy;

/// <summary>The Helm chart's files in deploy/helm/manycore-mail (issue 14, item 2), read without helm: the values
/// cover every role the mailer has with the original chart's names, and the default configuration agrees with the
/// ports the values give each role's Service and probes. <see cref="HelmRenderTests"/> renders it with the real helm.</summary>
public sealed class HelmChartTests : IDisposable
{
    private static readonly string Chart = Path.Combine(TestData.RepositoryRoot, "deploy", "helm", "manycore-mail");
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "mm-helm-" + Guid.NewGuid().ToString("N"));

    public HelmChartTests() => Directory.CreateDirectory(_directory);

    private static YamlMappingNode Values => DeployYaml.LoadMapping(File.ReadAllText(Path.Combine(Chart, "values.yaml")), "values.yaml");

    /// <summary>The values sections the templates range over (those with a <c>role</c>), by the mailer role they run.</summary>
    private static Dictionary<string, YamlMappingNode> RoleSections => Values.Children
        .Where(entry => entry.Value is YamlMappingNode section && section.Get("role") is not null)
        .ToDictionary(entry => ((YamlMappingNode)entry.Value).Scalar("role"), entry => (YamlMappingNode)entry.Value);

    [Fact]
    public void Chart_yaml_names_the_chart_and_a_helm_3_api_version()
    {
        var chart = DeployYaml.LoadMapping(File.ReadAllText(Path.Combine(Chart, "Chart.yaml")), "Chart.yaml");
        Assert.Equal("v2", chart.Scalar("apiVersion"));
        Assert.Equal("manycore-mail", chart.Scalar("name"));
        Assert.Matches(@"^\d+\.\d+\.\d+$", chart.Scalar("version"));
        Assert.NotEmpty(chart.Scalar("appVersion"));
    }

    [Fact]
    public void Values_have_a_section_per_mailer_role_with_the_original_charts_keys()
    {
        Assert.Equal(RoleNames.All.Order(StringComparer.Ordinal), RoleSections.Keys.Order(StringComparer.Ordinal));
        foreach (var (role, section) in RoleSections)
        {
            Assert.True(int.Parse(section.Scalar("replicaCount"), System.Globalization.CultureInfo.InvariantCulture) >= 1, role);
            Assert.NotNull(section.Get("resources"));
            Assert.NotNull(section.Mapping("service").Get("metricsPort"));
            Assert.Equal("/healthz", section.Mapping("livenessProbe").Scalar("path"));
            Assert.Equal("/readyz", section.Mapping("readinessProbe").Scalar("path"));
            Assert.Equal("true", section.Mapping("podDisruptionBudget").Scalar("enabled"));
            Assert.Equal("true", section.Mapping("podSecurityContext").Scalar("runAsNonRoot"));
        }
        // The original chart's names where they mean the same.
        Assert.Equal("", Values.Mapping("config").Scalar("existingConfigMap"));
        Assert.NotNull(Values.Mapping("prometheus").Mapping("serviceMonitor").Get("enabled"));
        Assert.NotNull(Values.Mapping("prometheus").Mapping("prometheusRule").Get("receiver"));
        Assert.Equal("587", RoleSections[RoleNames.Receiver].Mapping("service").Scalar("smtpPort"));
        Assert.Equal("25", RoleSections[RoleNames.MxServer].Mapping("service").Scalar("smtpPort"));
    }

    [Fact]
    public void Each_per_role_kind_comes_from_one_template_ranging_over_every_role_section()
    {
        foreach (var (file, kind) in new[] { ("deployment.yaml", "Deployment"), ("service.yaml", "Service"),
                     ("servicemonitor.yaml", "ServiceMonitor"), ("poddisruptionbudget.yaml", "PodDisruptionBudget") })
        {
            var text = File.ReadAllText(Path.Combine(Chart, "templates", file));
            Assert.Contains($"kind: {kind}", text, StringComparison.Ordinal);
            Assert.Contains("{{- range $key, $v := .Values }}", text, StringComparison.Ordinal);
            Assert.Contains("(hasKey $v \"role\")", text, StringComparison.Ordinal);
            Assert.Contains("name: {{ include \"manycore-mail.fullname\" $ }}-{{ $v.role }}", text, StringComparison.Ordinal);
        }
        var deployment = File.ReadAllText(Path.Combine(Chart, "templates", "deployment.yaml"));
        Assert.Contains("args: [{{ $v.role | quote }}]", deployment, StringComparison.Ordinal);
        Assert.Contains("mountPath: /configs\n", deployment, StringComparison.Ordinal);
        Assert.Contains("port: metrics", deployment, StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_configuration_passes_the_loader_and_binds_the_ports_the_services_and_probes_use()
    {
        var config = Values.Mapping("config");
        var key = Path.Combine(_directory, "dkim.pem");
        using (var rsa = RSA.Create(2048))
        {
            File.WriteAllText(key, rsa.ExportPkcs8PrivateKeyPem());
        }
        var customer = config.Scalar("customer").Replace("/configs/secrets/dkim-example.com.pem", key, StringComparison.Ordinal);
        var loaded = ConfigLoader.Parse(config.Scalar("global"), customer);
        Assert.Empty(loaded.Warnings);
        var options = loaded.Options;
        Assert.True(options.Redis.Configured);

        var metricsPorts = options.MetricsBinds.ToDictionary(b => b.Role, b => b.EndPoint.Port);
        metricsPorts[RoleNames.HttpReceiver] = options.HttpReceiver!.MetricsBind.Port;
        foreach (var (role, section) in RoleSections.Where(r => r.Value.Scalar("enabled") == "true"))
        {
            Assert.True(metricsPorts.TryGetValue(role, out var port), $"the default customer file has no metrics bind for {role}");
            Assert.Equal(port.ToString(System.Globalization.CultureInfo.InvariantCulture), section.Mapping("service").Scalar("metricsPort"));
        }
        Assert.Equal(options.Receiver!.Bind.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            RoleSections[RoleNames.Receiver].Mapping("service").Scalar("smtpTargetPort"));
        Assert.Equal(options.MxServer!.Bind.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            RoleSections[RoleNames.MxServer].Mapping("service").Scalar("smtpTargetPort"));
        Assert.Equal(options.HttpReceiver.Bind.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            RoleSections[RoleNames.HttpReceiver].Mapping("service").Scalar("httpPort"));
        // The tracker needs a tracking section, which the default has not: so it is off by default.
        Assert.Null(options.Tracking);
        Assert.Equal("false", RoleSections[RoleNames.Tracker].Scalar("enabled"));
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
