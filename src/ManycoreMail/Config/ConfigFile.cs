using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ManycoreMail.Config;

/// <summary>One YAML file, loaded once, remembering which of its keys were read.</summary>
internal sealed class ConfigFile
{
    private readonly HashSet<YamlNode> _known = new(ReferenceEqualityComparer.Instance);

    private ConfigFile(string name, YamlMappingNode? root, ConfigProblems problems)
    {
        Name = name;
        Root = root;
        Problems = problems;
    }

    public string Name { get; }
    public YamlMappingNode? Root { get; }
    public ConfigProblems Problems { get; }

    public static ConfigFile Load(string path, ConfigProblems problems)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problems.Error(path, "(file)", "cannot be read: " + e.Message);
            return new ConfigFile(path, null, problems);
        }
        return Parse(path, text, problems);
    }

    public static ConfigFile Parse(string name, string text, ConfigProblems problems)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            problems.Error(name, $"(line {e.Start.Line})", "is not valid YAML: " + e.Message);
            return new ConfigFile(name, null, problems);
        }
        if (stream.Documents.Count == 0)
        {
            return new ConfigFile(name, new YamlMappingNode(), problems);
        }
        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            problems.Error(name, "(document)", "must be a mapping of sections");
            return new ConfigFile(name, null, problems);
        }
        return new ConfigFile(name, root, problems);
    }

    public YamlSection Section(string key) => YamlSection.Root(this).Section(key);

    public YamlSection RootSection => YamlSection.Root(this);

    internal void MarkKnown(YamlNode node) => _known.Add(node);

    /// <summary>The string a scalar, a <c>${ENV_NAME}</c> or a <c>{file: /path}</c> stands for; null, with an error
    /// naming the key, when a reference cannot be resolved. Referenced values are concealed in every later problem.</summary>
    internal string? Resolve(YamlNode node, string keyPath)
    {
        if (node is YamlMappingNode reference)
        {
            foreach (var (key, value) in reference.Children)
            {
                MarkKnown(key);
                MarkKnown(value);
            }
        }
        var resolution = ValueReference.Resolve(node, Environment.GetEnvironmentVariable);
        if (resolution.Problem is not null)
        {
            Problems.Error(Name, keyPath, resolution.Problem);
            return null;
        }
        if (resolution.Source is not null)
        {
            Problems.Conceal(resolution.Value!, resolution.Source);
        }
        return resolution.Value;
    }

    /// <summary>Warns about every key that no reader asked for (the original ignored them silently).</summary>
    public void WarnAboutUnknownKeys()
    {
        if (Root is not null)
        {
            Walk(Root, "");
        }
    }

    private void Walk(YamlMappingNode mapping, string path)
    {
        foreach (var (key, value) in mapping.Children)
        {
            var name = (key as YamlScalarNode)?.Value ?? key.ToString();
            var keyPath = path.Length == 0 ? name : path + "/" + name;
            if (!_known.Contains(key))
            {
                Problems.Warning(Name, keyPath, "unknown key, ignored");
                continue;
            }
            switch (value)
            {
                case YamlMappingNode child:
                    Walk(child, keyPath);
                    break;
                case YamlSequenceNode sequence:
                    for (var i = 0; i < sequence.Children.Count; i++)
                    {
                        if (sequence.Children[i] is YamlMappingNode item)
                        {
                            Walk(item, $"{keyPath}[{i}]");
                        }
                    }
                    break;
            }
        }
    }
}
