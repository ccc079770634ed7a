namespace ManycoreMail.Templates;

/// <summary>The three mustache parts of a template; a template has a text or an html part (or both).</summary>
public sealed record TemplateContent(string? Subject, string? Text, string? Html)
{
    /// <summary>The parts present, with their names as the API and errors spell them.</summary>
    public IEnumerable<(string Part, string Source)> Parts()
    {
        if (Subject is not null)
        {
            yield return (TemplatePart.Subject, Subject);
        }

        if (Text is not null)
        {
            yield return (TemplatePart.Text, Text);
        }

        if (Html is not null)
        {
            yield return (TemplatePart.Html, Html);
        }
    }
}

/// <summary>The names of a template's parts, as they appear in errors.</summary>
public static class TemplatePart
{
    public const string Subject = "subject";
    public const string Text = "text";
    public const string Html = "html";
}

/// <summary>One stored version of a template.</summary>
public sealed record StoredTemplate(string Name, int Version, TemplateContent Content, DateTimeOffset Created);

/// <summary>A template name with its latest version, as the list shows it.</summary>
public sealed record TemplateSummary(string Name, int LatestVersion);

/// <summary>What a render produced: the parts the template has, the others null.</summary>
public sealed record RenderedTemplate(string? Subject, string? Text, string? Html);
