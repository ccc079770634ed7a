using System.Security.Cryptography;
using System.Text.RegularExpressions;
using ManycoreMail.Config;
using ManycoreMail.Hosting;
using ManycoreMail.TestSupport;
using YamlDotNet.RepresentationModel;

namespace ManycoreMail.Tests.Deploy;

/// <summary>The Helm chart in deploy/helm/manycore-mail (issue 14, item 2). Neither helm nor a Kubernetes schema
/// validator can be installed here, so the chart is checked without rendering: its files parse, every template is
/// YAML once its template expressions are replaced, the per-role templates cover every role the mailer has, and
/// the default configuration agrees with the ports the values give each role's Service and probes.</summary>
public sealed partial class HelmChartTests : IDisposable
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
    public void Every_template_is_yaml_of_a_kubernetes_kind_once_its_expressions_are_replaced()
    {
        var kinds = new Dictionary<string, List<string>>();
        foreach (var template in Directory.GetFiles(Path.Combine(Chart, "templates"), "*.yaml"))
        {
            IReadOnlyList<YamlNode> documents;
            try
            {
                documents = DeployYaml.LoadDocuments(WithoutTemplateExpressions(File.ReadAllText(template)));
            }
            catch (YamlDotNet.Core.YamlException e)
            {
                throw new Xunit.Sdk.XunitException($"{Path.GetFileName(template)}: not YAML once its expressions are replaced: {e.Message}");
            }
            Assert.True(documents.Count > 0, template + ": no document");
            foreach (var document in documents)
            {
                var mapping = Assert.IsType<YamlMappingNode>(document);
                Assert.Matches("^[a-z0-9./]*v[0-9]", mapping.Scalar("apiVersion"));
                Assert.NotNull(mapping.Mapping("metadata").Get("name"));
                kinds.TryAdd(mapping.Scalar("kind"), []);
                kinds[mapping.Scalar("kind")].Add(Path.GetFileName(template));
            }
        }
        Assert.Equal(
            ["ConfigMap", "Deployment", "PodDisruptionBudget", "PrometheusRule", "Secret", "Service", "ServiceMonitor"],
            kinds.Keys.Order(StringComparer.Ordinal));
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

    /// <summary>A template as YAML: template comments removed, lines holding only an action (if, range, end, ...)
    /// dropped, a line holding only an expression (an include or toYaml that renders lines of its own) made a
    /// placeholder key at its indentation, and every other expression a placeholder scalar.</summary>
    private static string WithoutTemplateExpressions(string template)
    {
        var lines = TemplateComment().Replace(template, "").Split('\n');
        var yaml = new List<string>();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var trimmed = line.Trim();
            if (WholeLineAction().IsMatch(trimmed))
            {
                continue;
            }
            if (WholeLineExpression().IsMatch(trimmed))
            {
                yaml.Add($"{line[..(line.Length - line.TrimStart().Length)]}placeholder-{i}: x");
                continue;
            }
            yaml.Add(Expression().Replace(line, "x"));
        }
        return string.Join('\n', yaml);
    }

    [GeneratedRegex(@"\{\{-?\s*/\*.*?\*/\s*-?\}\}", RegexOptions.Singleline)]
    private static partial Regex TemplateComment();

    [GeneratedRegex(@"^\{\{-?\s*(?:(?:if|else|end|range|with|define)\b|\$[A-Za-z]+\s*:=).*\}\}$")]
    private static partial Regex WholeLineAction();

    [GeneratedRegex(@"^\{\{-?[^{}]*\}\}$")]
    private static partial Regex WholeLineExpression();

    [GeneratedRegex(@"\{\{-?[^{}]*?-?\}\}")]
    private static partial Regex Expression();
}
