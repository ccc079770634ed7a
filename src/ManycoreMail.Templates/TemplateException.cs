namespace ManycoreMail.Templates;

/// <summary>A template part that cannot be used, with the part and the 1-based template line at fault.</summary>
public abstract class TemplateException(string part, int line, string message, Exception? inner)
    : Exception($"{part}: line {line}: {message}", inner)
{
    public string Part { get; } = part;

    public int Line { get; } = line;
}

/// <summary>A template part that does not parse as mustache.</summary>
public sealed class TemplateParseException(string part, int line, string detail, Exception? inner = null)
    : TemplateException(part, line, detail, inner)
{
    public string Detail { get; } = detail;
}

/// <summary>A strict render that met a variable the substitutions do not have.</summary>
public sealed class TemplateRenderException(string part, int line, string variable, Exception? inner = null)
    : TemplateException(part, line, $"the variable '{variable}' has no value", inner)
{
    public string Variable { get; } = variable;
}
