using YamlDotNet.RepresentationModel;

namespace ManycoreMail.Tests.Deploy;

/// <summary>Reads the deployment files' YAML the way their consumers do: one document, mappings looked up by key,
/// merge keys (<c>&lt;&lt;: *anchor</c>, as docker compose applies them) followed.</summary>
internal static class DeployYaml
{
    public static YamlMappingNode LoadMapping(string text, string what)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(text))
        {
            stream.Load(reader);
        }
        Assert.True(stream.Documents.Count == 1, $"{what}: expected one YAML document, found {stream.Documents.Count}");
        return Assert.IsType<YamlMappingNode>(stream.Documents[0].RootNode);
    }

    /// <summary>Every document of a multi-document file (a Kubernetes manifest), empty ones left out.</summary>
    public static IReadOnlyList<YamlNode> LoadDocuments(string text)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(text))
        {
            stream.Load(reader);
        }
        return stream.Documents.Select(d => d.RootNode).Where(n => n is not YamlScalarNode { Value: null or "" }).ToArray();
    }

    public static YamlNode? Get(this YamlMappingNode mapping, string key)
    {
        if (mapping.Children.TryGetValue(new YamlScalarNode(key), out var value))
        {
            return value;
        }
        return mapping.Children.TryGetValue(new YamlScalarNode("<<"), out var merged) && merged is YamlMappingNode parent
            ? parent.Get(key)
            : null;
    }

    public static YamlMappingNode Mapping(this YamlMappingNode mapping, string key) =>
        Assert.IsType<YamlMappingNode>(mapping.Get(key) ?? throw new Xunit.Sdk.XunitException($"no '{key}'"));

    public static string Scalar(this YamlMappingNode mapping, string key) =>
        Assert.IsType<YamlScalarNode>(mapping.Get(key) ?? throw new Xunit.Sdk.XunitException($"no '{key}'")).Value ?? "";

    public static string[] Scalars(this YamlNode? node) =>
        node is YamlSequenceNode sequence ? sequence.Children.Select(c => ((YamlScalarNode)c).Value ?? "").ToArray() : [];
}
