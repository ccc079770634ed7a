using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ManycoreMail.Config;

/// <summary>
/// A typed, path-aware view of one YAML mapping. Every read records the key as known, so keys nobody
/// read can be reported as unknown afterwards, and every problem names the file and the full key.
/// Every string read here may be a <see cref="ValueReference"/> (<c>${ENV_NAME}</c> or <c>{file: /path}</c>).
/// </summary>
internal sealed class YamlSection
{
    private readonly YamlMappingNode? _node;
    private readonly ConfigFile _file;

    private YamlSection(ConfigFile file, string path, YamlMappingNode? node)
    {
        _file = file;
        Path = path;
        _node = node;
        if (node is not null)
        {
            file.MarkKnown(node);
        }
    }

    public static YamlSection Root(ConfigFile file) => new(file, "", file.Root);

    public string Path { get; }

    public bool Exists => _node is not null;

    public string FileName => _file.Name;

    public string KeyPath(string key) => Path.Length == 0 ? key : Path + "/" + key;

    public bool Has(string key) => Find(key) is not null;

    public YamlSection Section(string key)
    {
        var value = Find(key);
        switch (value)
        {
            case null:
                return new YamlSection(_file, KeyPath(key), null);
            case YamlMappingNode mapping:
                return new YamlSection(_file, KeyPath(key), mapping);
            case YamlScalarNode scalar when IsNull(scalar):
                return new YamlSection(_file, KeyPath(key), null);
            default:
                Error(key, "must be a mapping of keys to values");
                return new YamlSection(_file, KeyPath(key), null);
        }
    }

    public string? String(string key, bool required = false)
    {
        var value = Find(key);
        switch (value)
        {
            case null:
                if (required)
                {
                    Error(key, "is required");
                }
                return null;
            case YamlScalarNode scalar when IsNull(scalar):
                if (required)
                {
                    Error(key, "is required but empty");
                }
                return null;
            case YamlScalarNode scalar:
                return _file.Resolve(scalar, KeyPath(key));
            case YamlMappingNode reference when ValueReference.IsFileReference(reference):
                return _file.Resolve(reference, KeyPath(key));
            default:
                Error(key, "must be a single value, not a list or mapping");
                return null;
        }
    }

    /// <summary>True when the key is present with an explicit null (YAML `~`, `null` or nothing).</summary>
    public bool IsExplicitNull(string key) => Find(key) is YamlScalarNode scalar && IsNull(scalar);

    public int? Int(string key, bool required = false, int min = int.MinValue, int max = int.MaxValue)
    {
        var text = String(key, required);
        if (text is null)
        {
            return null;
        }
        if (!int.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            Error(key, $"'{text}' is not a whole number");
            return null;
        }
        if (value < min || value > max)
        {
            Error(key, $"{value} is out of range ({min}..{max})");
            return null;
        }
        return value;
    }

    public int? Port(string key, bool required = false) => Int(key, required, 0, 65535);

    public bool? Bool(string key)
    {
        var text = String(key);
        if (text is null)
        {
            return null;
        }
        switch (text.Trim().ToLowerInvariant())
        {
            case "true" or "yes" or "on" or "1":
                return true;
            case "false" or "no" or "off" or "0":
                return false;
            default:
                Error(key, $"'{text}' is not true or false");
                return null;
        }
    }

    public IReadOnlyList<string> StringList(string key)
    {
        var value = Find(key);
        switch (value)
        {
            case null:
                return [];
            case YamlScalarNode scalar when IsNull(scalar):
                return [];
            case YamlScalarNode scalar:
                return _file.Resolve(scalar, KeyPath(key)) is { } single ? [single] : [];
            case YamlSequenceNode sequence:
                _file.MarkKnown(sequence);
                var items = new List<string>(sequence.Children.Count);
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    var child = sequence.Children[i];
                    if (child is YamlScalarNode { Value: not null } item && !IsNull(item) || ValueReference.IsFileReference(child))
                    {
                        if (_file.Resolve(child, $"{KeyPath(key)}[{i}]") is { } resolved)
                        {
                            items.Add(resolved);
                        }
                    }
                    else
                    {
                        Error($"{key}[{i}]", "must be a single value");
                    }
                }
                return items;
            default:
                Error(key, "must be a list of values");
                return [];
        }
    }

    public IReadOnlyList<YamlSection> SectionList(string key)
    {
        var value = Find(key);
        switch (value)
        {
            case null:
                return [];
            case YamlScalarNode scalar when IsNull(scalar):
                return [];
            case YamlSequenceNode sequence:
                _file.MarkKnown(sequence);
                var items = new List<YamlSection>(sequence.Children.Count);
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    if (sequence.Children[i] is YamlMappingNode mapping)
                    {
                        items.Add(new YamlSection(_file, $"{KeyPath(key)}[{i}]", mapping));
                    }
                    else
                    {
                        Error($"{key}[{i}]", "must be a mapping of keys to values");
                    }
                }
                return items;
            default:
                Error(key, "must be a list");
                return [];
        }
    }

    /// <summary>All keys of this mapping with their scalar values (for free-form maps like header templates).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> ScalarEntries()
    {
        if (_node is null)
        {
            return [];
        }
        var entries = new List<KeyValuePair<string, string>>();
        foreach (var (key, value) in _node.Children)
        {
            var name = ((YamlScalarNode)key).Value ?? "";
            _file.MarkKnown(key);
            _file.MarkKnown(value);
            if (value is YamlScalarNode scalar && !IsNull(scalar) || ValueReference.IsFileReference(value))
            {
                if (_file.Resolve(value, KeyPath(name)) is { } resolved)
                {
                    entries.Add(new(name, resolved));
                }
            }
            else
            {
                Error(name, "must be a single value");
            }
        }
        return entries;
    }

    public void Error(string key, string problem) => _file.Problems.Error(_file.Name, KeyPath(key), problem);

    public void Warning(string key, string problem) => _file.Problems.Warning(_file.Name, KeyPath(key), problem);

    private YamlNode? Find(string key)
    {
        if (_node is null)
        {
            return null;
        }
        foreach (var (k, v) in _node.Children)
        {
            if (k is YamlScalarNode { Value: { } name } keyNode && name == key)
            {
                _file.MarkKnown(keyNode);
                _file.MarkKnown(v);
                return v;
            }
        }
        return null;
    }

    private static bool IsNull(YamlScalarNode scalar) =>
        scalar.Style == ScalarStyle.Plain && (scalar.Value is null or "" or "~" or "null" or "Null" or "NULL");
}
