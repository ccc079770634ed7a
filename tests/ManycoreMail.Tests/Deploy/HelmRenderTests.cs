using System.Globalization;
using k8s;
using k8s.Models;
using ManycoreMail.Config;
using ManycoreMail.Hosting;
using ManycoreMail.TestSupport;
using YamlDotNet.RepresentationModel;

namespace ManycoreMail.Tests.Deploy;

/// <summary>The Helm chart rendered by the real helm (issue 14, item 2) with its defaults, with every option on and
/// with the operator's own ConfigMap and Secret; every document validated against the Kubernetes OpenAPI schemas
/// (types, required fields, formats by kubernetes-models in node; unknown fields by KubernetesClient's strict
/// reader), and the pieces checked to fit together as a cluster would need them to.</summary>
public sealed class HelmRenderTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "mm-helm-render-" + Guid.NewGuid().ToString("N"));

    public HelmRenderTests() => Directory.CreateDirectory(_directory);

    public static TheoryData<string> ValueSets => new(RenderedChart.ValueSets.Keys);

    [HelmTheory]
    [MemberData(nameof(ValueSets))]
    public async Task Helm_lint_strict_passes(string valueSet)
    {
        string[] arguments = ["lint", "--strict", RenderedChart.ChartDirectory, .. RenderedChart.ValueArguments(valueSet, _directory)];
        var (exit, output) = await PeerProcess.RunAsync(HelmTools.Required.Helm, arguments, TimeSpan.FromMinutes(1));
        Assert.True(exit == 0, $"helm lint --strict ({valueSet}) exited {exit}: {output}");
        Assert.Contains("0 chart(s) failed", output, StringComparison.Ordinal);
    }

    [HelmTheory]
    [MemberData(nameof(ValueSets))]
    public async Task Every_rendered_document_passes_the_kubernetes_schemas(string valueSet)
    {
        var chart = await RenderedChart.RenderAsync(HelmTools.Required, valueSet, _directory);
        Assert.NotEmpty(chart.Documents);

        var (exit, output) = await PeerProcess.RunAsync("node", [HelmTools.Required.Validator, .. chart.Files], TimeSpan.FromMinutes(1));
        Assert.True(exit == 0, $"schema validation ({valueSet}) failed:\n{output}");
        var validated = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(line => line.StartsWith("ok ", StringComparison.Ordinal));
        Assert.Equal(chart.Documents.Count, validated);

        foreach (var document in chart.Documents)
        {
            StrictRead(document);
        }
        if (valueSet == "all-options")
        {
            Assert.Equal(
                ["ConfigMap", "Deployment", "PodDisruptionBudget", "PrometheusRule", "Secret", "Service", "ServiceMonitor"],
                chart.Documents.Select(d => d.Kind).Distinct().Order(StringComparer.Ordinal));
            // Every role, the tracker too, with the replicas asked for.
            Assert.Equal(RoleNames.All.Count, chart.OfKind("Deployment").Count());
            Assert.Equal("4", chart.OfKind("Deployment").Single(d => d.Name == "mailer-sender").Node.Mapping("spec").Scalar("replicas"));
            // extraEnv: the chart's for every role, then the role's own.
            var receiverEnv = Assert.IsType<YamlSequenceNode>(Container(chart.OfKind("Deployment").Single(d => d.Name == "mailer-receiver")).Get("env"))
                .Children.Cast<YamlMappingNode>().Select(e => e.Scalar("name")).ToArray();
            Assert.Equal(["HOME", "MAILER_LOG_FORMAT", "MAILER_LOG_LEVEL"], receiverEnv);
        }
    }

    [HelmTheory]
    [MemberData(nameof(ValueSets))]
    public async Task Probes_ask_healthz_and_readyz_on_a_port_the_container_declares(string valueSet)
    {
        var chart = await RenderedChart.RenderAsync(HelmTools.Required, valueSet, _directory);
        var probed = 0;
        foreach (var deployment in chart.OfKind("Deployment"))
        {
            var container = Container(deployment);
            var ports = ContainerPorts(container);
            foreach (var (probe, path) in new[] { ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz") })
            {
                if (container.Get(probe) is not YamlMappingNode settings)
                {
                    continue;
                }
                var get = settings.Mapping("httpGet");
                Assert.Equal(path, get.Scalar("path"));
                var port = get.Scalar("port");
                Assert.True(ports.ContainsKey(port) || ports.ContainsValue(port), $"{deployment}: {probe} asks port {port}, the container declares {string.Join(", ", ports)}");
                probed++;
            }
        }
        // The existing-values set turns the receiver's probes off: the others still have theirs.
        Assert.True(probed >= 2 * chart.OfKind("Deployment").Count() - 2, $"only {probed} probes in {valueSet}");
    }

    [HelmTheory]
    [MemberData(nameof(ValueSets))]
    public async Task Each_service_selects_exactly_one_deployments_pods_on_ports_they_declare(string valueSet)
    {
        var chart = await RenderedChart.RenderAsync(HelmTools.Required, valueSet, _directory);
        var deployments = chart.OfKind("Deployment").ToArray();
        foreach (var service in chart.OfKind("Service"))
        {
            var selector = Labels(service.Node.Mapping("spec").Mapping("selector"));
            var selected = deployments.Where(d => selector.All(l => PodLabels(d).TryGetValue(l.Key, out var v) && v == l.Value)).ToArray();
            var deployment = Assert.Single(selected);
            var ports = ContainerPorts(Container(deployment));
            foreach (var port in ((YamlSequenceNode)service.Node.Mapping("spec").Get("ports")!).Children.Cast<YamlMappingNode>())
            {
                var target = port.Scalar("targetPort");
                Assert.True(ports.ContainsKey(target) || ports.ContainsValue(target), $"{service}: targetPort {target} is not a port of {deployment}");
            }
        }
        // The Deployment's own selector picks its pods (apps/v1 rejects one that does not).
        foreach (var deployment in deployments)
        {
            var selector = Labels(deployment.Node.Mapping("spec").Mapping("selector").Mapping("matchLabels"));
            Assert.All(selector, l => Assert.Equal(l.Value, PodLabels(deployment)[l.Key]));
        }
        Assert.Equal(deployments.Length, chart.OfKind("Service").Count());
    }

    [HelmTheory]
    [MemberData(nameof(ValueSets))]
    public async Task Service_monitors_scrape_a_port_named_by_the_services_they_select(string valueSet)
    {
        var chart = await RenderedChart.RenderAsync(HelmTools.Required, valueSet, _directory);
        var monitors = chart.OfKind("ServiceMonitor").ToArray();
        if (valueSet == "all-options")
        {
            Assert.Equal(chart.OfKind("Service").Count(), monitors.Length);
            Assert.Single(chart.OfKind("PrometheusRule"));
        }
        else
        {
            Assert.Empty(monitors);
        }
        foreach (var monitor in monitors)
        {
            var selector = Labels(monitor.Node.Mapping("spec").Mapping("selector").Mapping("matchLabels"));
            var service = Assert.Single(chart.OfKind("Service"), s => selector.All(l => Labels(s.Node.Mapping("metadata").Mapping("labels")).GetValueOrDefault(l.Key) == l.Value));
            var portNames = ((YamlSequenceNode)service.Node.Mapping("spec").Get("ports")!).Children.Cast<YamlMappingNode>().Select(p => p.Scalar("name")).ToArray();
            foreach (var endpoint in ((YamlSequenceNode)monitor.Node.Mapping("spec").Get("endpoints")!).Children.Cast<YamlMappingNode>())
            {
                Assert.Contains(endpoint.Scalar("port"), portNames);
                // GET / and /metrics both serve the metrics; the probes' paths do not.
                Assert.Equal("/metrics", endpoint.Scalar("path"));
            }
        }
    }

    [HelmTheory]
    [MemberData(nameof(ValueSets))]
    public async Task Deployments_mount_the_configmap_and_secret_the_chart_or_the_operator_provides(string valueSet)
    {
        var chart = await RenderedChart.RenderAsync(HelmTools.Required, valueSet, _directory);
        var configMaps = chart.OfKind("ConfigMap").Select(d => d.Name).ToHashSet(StringComparer.Ordinal);
        var secrets = chart.OfKind("Secret").Select(d => d.Name).ToHashSet(StringComparer.Ordinal);
        var (existingConfigMap, existingSecret) = valueSet == "existing" ? ("mailer-config", "mailer-secrets") : ("", "");
        foreach (var deployment in chart.OfKind("Deployment"))
        {
            var volumes = ((YamlSequenceNode)PodSpec(deployment).Get("volumes")!).Children.Cast<YamlMappingNode>().ToArray();
            var configMap = volumes.Single(v => v.Scalar("name") == "configs").Mapping("configMap").Scalar("name");
            var secret = volumes.Single(v => v.Scalar("name") == "secrets").Mapping("secret").Scalar("secretName");
            Assert.True(configMaps.Contains(configMap) || configMap == existingConfigMap, $"{deployment} mounts ConfigMap {configMap}, which nothing provides");
            Assert.True(secrets.Contains(secret) || secret == existingSecret, $"{deployment} mounts Secret {secret}, which nothing provides");
        }
    }

    [HelmTheory]
    [InlineData("defaults")]
    [InlineData("all-options")]
    public async Task The_configmaps_files_pass_the_mailers_loader_with_the_secrets_files_and_bind_the_declared_ports(string valueSet)
    {
        var chart = await RenderedChart.RenderAsync(HelmTools.Required, valueSet, _directory);
        var data = Assert.Single(chart.OfKind("ConfigMap")).Node.Mapping("data");
        var global = data.Scalar("inboxbooster-mailer-global.yaml");
        var customer = data.Scalar("inboxbooster-mailer-customer.yaml");

        // The Secret's files where the pods mount them (/configs/secrets), here in a directory of the test's.
        var secretsDirectory = Path.Combine(_directory, "secrets-" + valueSet);
        Directory.CreateDirectory(secretsDirectory);
        foreach (var (name, content) in Assert.Single(chart.OfKind("Secret")).Node.Mapping("stringData").Children)
        {
            File.WriteAllText(Path.Combine(secretsDirectory, ((YamlScalarNode)name).Value!), ((YamlScalarNode)content).Value);
        }
        var loaded = ConfigLoader.Parse(global, customer.Replace("/configs/secrets/", secretsDirectory + "/", StringComparison.Ordinal),
            "inboxbooster-mailer-global.yaml", "inboxbooster-mailer-customer.yaml");
        Assert.Empty(loaded.Warnings);
        var options = loaded.Options;

        var bound = options.MetricsBinds.ToDictionary(b => b.Role, b => b.EndPoint.Port);
        bound[RoleNames.HttpReceiver] = options.HttpReceiver!.MetricsBind.Port;
        foreach (var deployment in chart.OfKind("Deployment"))
        {
            var container = Container(deployment);
            var role = Assert.Single(container.Get("args").Scalars());
            var ports = ContainerPorts(container);
            Assert.True(bound.TryGetValue(role, out var metrics), $"{deployment}: the customer file has no metrics bind for {role}");
            Assert.Equal(Port(metrics), ports["metrics"]);
            var listener = role switch
            {
                RoleNames.Receiver => options.Receiver?.Bind.Port,
                RoleNames.MxServer => options.MxServer?.Bind.Port,
                RoleNames.HttpReceiver => options.HttpReceiver.Bind.Port,
                RoleNames.Tracker => options.Tracking?.Bind.Port,
                _ => null,
            };
            if (listener is { } port)
            {
                Assert.Equal(Port(port), ports.GetValueOrDefault("smtp") ?? ports.GetValueOrDefault("http"));
            }
        }
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

    /// <summary>Fields the schema does not name are errors here (the node validator lets them through): the built-in
    /// kinds through KubernetesClient's strict reader. The Prometheus Operator's kinds have no model in it.</summary>
    private static void StrictRead(RenderedDocument document)
    {
        try
        {
            _ = document.Kind switch
            {
                "Deployment" => (object)KubernetesYaml.Deserialize<V1Deployment>(document.Text, strict: true),
                "Service" => KubernetesYaml.Deserialize<V1Service>(document.Text, strict: true),
                "ConfigMap" => KubernetesYaml.Deserialize<V1ConfigMap>(document.Text, strict: true),
                "Secret" => KubernetesYaml.Deserialize<V1Secret>(document.Text, strict: true),
                "PodDisruptionBudget" => KubernetesYaml.Deserialize<V1PodDisruptionBudget>(document.Text, strict: true),
                "ServiceMonitor" or "PrometheusRule" => document,
                _ => throw new Xunit.Sdk.XunitException($"{document}: a kind the chart's tests do not know"),
            };
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new Xunit.Sdk.XunitException($"{document}: {e.Message} {e.InnerException?.Message}");
        }
    }

    private static YamlMappingNode PodSpec(RenderedDocument deployment) =>
        deployment.Node.Mapping("spec").Mapping("template").Mapping("spec");

    /// <summary>The chart runs one container per pod: the role.</summary>
    private static YamlMappingNode Container(RenderedDocument deployment) =>
        Assert.IsType<YamlMappingNode>(Assert.Single(Assert.IsType<YamlSequenceNode>(PodSpec(deployment).Get("containers")).Children));

    private static Dictionary<string, string> PodLabels(RenderedDocument deployment) =>
        Labels(deployment.Node.Mapping("spec").Mapping("template").Mapping("metadata").Mapping("labels"));

    private static Dictionary<string, string> Labels(YamlMappingNode labels) =>
        labels.Children.ToDictionary(l => ((YamlScalarNode)l.Key).Value!, l => ((YamlScalarNode)l.Value).Value ?? "", StringComparer.Ordinal);

    /// <summary>A container's ports by name (a probe or Service may name a port or give its number).</summary>
    private static Dictionary<string, string?> ContainerPorts(YamlMappingNode container) =>
        ((YamlSequenceNode)container.Get("ports")!).Children.Cast<YamlMappingNode>()
            .ToDictionary(p => p.Scalar("name"), p => (string?)p.Scalar("containerPort"), StringComparer.Ordinal);

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);
}
