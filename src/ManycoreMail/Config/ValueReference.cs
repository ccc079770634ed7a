using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace ManycoreMail.Config;

/// <summary>
/// A configuration value kept outside the YAML: <c>${ENV_NAME}</c> (the whole value) or a mapping
/// <c>{file: /path}</c> (the file's content without its trailing newline), so that secrets need not be written
/// into the files that are shared, versioned or mounted from a ConfigMap. A value that must be the text
/// <c>${NAME}</c> itself is written <c>$${NAME}</c>.
/// </summary>
internal static partial class ValueReference
{
    public const string FileKey = "file";

    /// <summary>True for a mapping whose only key is <c>file</c>: it stands for one value, not a section.</summary>
    public static bool IsFileReference(YamlNode node) =>
        node is YamlMappingNode { Children.Count: 1 } mapping && mapping.Children.Keys.First() is YamlScalarNode { Value: FileKey };

    /// <summary>Resolves a scalar (a plain value or <c>${NAME}</c>) or a file reference; the result's source names
    /// where a referenced value came from, for messages that must not show the value itself.</summary>
    public static Resolution Resolve(YamlNode node, Func<string, string?> environment)
    {
        if (node is YamlScalarNode scalar)
        {
            var text = scalar.Value ?? "";
            var match = EnvironmentReference().Match(text);
            if (!match.Success)
            {
                return new Resolution(text, null, null);
            }
            if (match.Groups[1].Length > 0)
            {
                // $${NAME}: the escape for a value that is literally ${NAME}.
                return new Resolution(text[1..], null, null);
            }
            var name = match.Groups[2].Value;
            var source = "${" + name + "}";
            return environment(name) is { } value
                ? new Resolution(value, source, null)
                : new Resolution(null, source, $"environment variable {name} is not set");
        }
        var pathNode = ((YamlMappingNode)node).Children.Values.First();
        if (pathNode is not YamlScalarNode { Value: { Length: > 0 } path })
        {
            return new Resolution(null, null, "file: must name a file");
        }
        var fileSource = "file " + path;
        try
        {
            return new Resolution(File.ReadAllText(path).TrimEnd('\r', '\n'), fileSource, null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return new Resolution(null, fileSource, $"file '{path}' cannot be read: {e.Message}");
        }
    }

    /// <summary>The value (null when it could not be resolved), where it came from, and why it could not.</summary>
    public readonly record struct Resolution(string? Value, string? Source, string? Problem);

    [GeneratedRegex(@"^(\$?)\$\{([A-Za-z_][A-Za-z0-9_]*)\}$", RegexOptions.CultureInvariant)]
    private static partial Regex EnvironmentReference();
}
