using System.Security.Cryptography;
using ManycoreMail.TestSupport;
using YamlDotNet.RepresentationModel;

namespace ManycoreMail.Tests.Deploy;

/// <summary>One document of a rendered chart: its text (for validators that read YAML themselves) and its tree.</summary>
internal sealed record RenderedDocument(string Source, string Text, YamlMappingNode Node)
{
    public string Kind => Node.Scalar("kind");

    public string Name => Node.Mapping("metadata").Scalar("name");

    public override string ToString() => $"{Kind}/{Name} ({Source})";
}

/// <summary>The chart in deploy/helm/manycore-mail rendered by the real <c>helm template</c> into a directory, with
/// one of the named value sets the tests use.</summary>
internal sealed class RenderedChart
{
    public static readonly string ChartDirectory = Path.Combine(TestData.RepositoryRoot, "deploy", "helm", "manycore-mail");

    /// <summary>The value sets: the chart's defaults, every option on (ci/all-options-values.yaml), and the operator's
    /// own ConfigMap and Secret (ci/existing-values.yaml). The first two name a DKIM key file in the Secret, given at
    /// install time with --set-file as an operator would.</summary>
    public static readonly IReadOnlyDictionary<string, (string? ValuesFile, bool NeedsDkimKey)> ValueSets =
        new Dictionary<string, (string?, bool)>
        {
            ["defaults"] = (null, true),
            ["all-options"] = ("ci/all-options-values.yaml", true),
            ["existing"] = ("ci/existing-values.yaml", false),
        };

    private RenderedChart(string directory, IReadOnlyList<string> files, IReadOnlyList<RenderedDocument> documents)
    {
        Directory = directory;
        Files = files;
        Documents = documents;
    }

    public string Directory { get; }

    /// <summary>The rendered files, as helm wrote them (one per template that rendered something).</summary>
    public IReadOnlyList<string> Files { get; }

    public IReadOnlyList<RenderedDocument> Documents { get; }

    public IEnumerable<RenderedDocument> OfKind(string kind) => Documents.Where(d => d.Kind == kind);

    /// <summary>The arguments that select a value set (and give the DKIM key it needs), for helm template and lint.</summary>
    public static IReadOnlyList<string> ValueArguments(string valueSet, string workDirectory)
    {
        var (valuesFile, needsKey) = ValueSets[valueSet];
        var arguments = new List<string>();
        if (valuesFile is not null)
        {
            arguments.AddRange(["--values", Path.Combine(ChartDirectory, valuesFile)]);
        }
        if (needsKey)
        {
            var key = Path.Combine(workDirectory, "dkim-example.com.pem");
            if (!File.Exists(key))
            {
                using var rsa = RSA.Create(2048);
                File.WriteAllText(key, rsa.ExportPkcs8PrivateKeyPem());
            }
            arguments.AddRange(["--set-file", $"secrets.files.dkim-example\\.com\\.pem={key}"]);
        }
        return arguments;
    }

    public static async Task<RenderedChart> RenderAsync(HelmTools tools, string valueSet, string workDirectory)
    {
        var output = Path.Combine(workDirectory, "rendered-" + valueSet);
        string[] arguments = ["template", "mail", ChartDirectory, "--namespace", "mail", "--output-dir", output,
            .. ValueArguments(valueSet, workDirectory)];
        var (exit, log) = await PeerProcess.RunAsync(tools.Helm, arguments, TimeSpan.FromMinutes(1));
        Assert.True(exit == 0, $"helm template ({valueSet}) exited {exit}: {log}");

        var files = System.IO.Directory.GetFiles(output, "*.yaml", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        var documents = new List<RenderedDocument>();
        foreach (var file in files)
        {
            var source = Path.GetRelativePath(output, file);
            foreach (var text in SplitDocuments(File.ReadAllText(file)))
            {
                var node = DeployYaml.LoadDocuments(text);
                if (node.Count == 0)
                {
                    continue;
                }
                documents.Add(new RenderedDocument(source, text, Assert.IsType<YamlMappingNode>(Assert.Single(node))));
            }
        }
        return new RenderedChart(output, files, documents);
    }

    /// <summary>helm separates documents with a line holding only <c>---</c>.</summary>
    private static IEnumerable<string> SplitDocuments(string text)
    {
        var current = new List<string>();
        foreach (var line in text.Split('\n'))
        {
            if (line.TrimEnd() == "---")
            {
                yield return string.Join('\n', current);
                current.Clear();
                continue;
            }
            current.Add(line);
        }
        yield return string.Join('\n', current);
    }
}
