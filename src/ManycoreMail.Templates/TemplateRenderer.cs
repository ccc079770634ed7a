using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Stubble.Core;
using Stubble.Core.Builders;
using Stubble.Core.Exceptions;
using Stubble.Core.Settings;

namespace ManycoreMail.Templates;

/// <summary>Renders templates with Stubble (mustache). Values are HTML-escaped in the html part (unless the template
/// uses triple braces or <c>&amp;</c>) and inserted as they are in the subject and text. Parsed parts are kept
/// in a bounded cache keyed by their source (<see cref="ParseCache"/>), so a template version is parsed once, not once
/// per send. Thread-safe: one instance serves every send.</summary>
public sealed partial class TemplateRenderer
{
    private static readonly RenderSettings Escaped = new() { SkipHtmlEncoding = false, ThrowOnDataMiss = false };
    private static readonly RenderSettings Verbatim = new() { SkipHtmlEncoding = true, ThrowOnDataMiss = false };
    private static readonly RenderSettings EscapedStrict = new() { SkipHtmlEncoding = false, ThrowOnDataMiss = true };
    private static readonly RenderSettings VerbatimStrict = new() { SkipHtmlEncoding = true, ThrowOnDataMiss = true };

    /// <summary>Parsed parts kept by default: a few thousand template versions in use at once is a large ESP.</summary>
    public const int DefaultCacheLimit = 4096;

    private readonly ParseCache _parser;
    private readonly StubbleVisitorRenderer _stubble;

    public TemplateRenderer(int cacheLimit = DefaultCacheLimit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cacheLimit, 1);
        _parser = new ParseCache(cacheLimit);
        _stubble = new StubbleBuilder().Configure(settings => settings.SetMustacheParser(_parser)).Build();
    }

    /// <summary>How many parsed parts the cache holds.</summary>
    internal int CachedParts => _parser.Count;

    /// <summary>How many times a part was parsed rather than found in the cache.</summary>
    internal long Parses => _parser.Parses;

    /// <summary>Renders every part of <paramref name="template"/>.</summary>
    /// <exception cref="TemplateParseException">A part does not parse.</exception>
    /// <exception cref="TemplateRenderException">With <paramref name="strict"/>, a variable has no value.</exception>
    public RenderedTemplate Render(TemplateContent template, IReadOnlyDictionary<string, object?> substitutions, bool strict)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(substitutions);
        return new RenderedTemplate(
            RenderPart(TemplatePart.Subject, template.Subject, substitutions, html: false, strict),
            RenderPart(TemplatePart.Text, template.Text, substitutions, html: false, strict),
            RenderPart(TemplatePart.Html, template.Html, substitutions, html: true, strict));
    }

    /// <summary>Renders with substitutions given as a JSON object.</summary>
    public RenderedTemplate Render(TemplateContent template, JsonElement substitutions, bool strict) =>
        Render(template, TemplateValues.FromJsonObject(substitutions), strict);

    /// <summary>Parses every part (and warms the parse cache) without rendering.</summary>
    /// <exception cref="TemplateParseException">A part does not parse.</exception>
    public void Validate(TemplateContent template)
    {
        ArgumentNullException.ThrowIfNull(template);
        foreach (var (part, source) in template.Parts())
        {
            try
            {
                _stubble.Render(source, EmptyView, Verbatim);
            }
            catch (StubbleDataMissException)
            {
                // Not possible without ThrowOnDataMiss; kept apart so it is never mistaken for a parse error.
            }
            catch (StubbleException e)
            {
                throw ParseError(part, source, e);
            }
        }
    }

    private static readonly IReadOnlyDictionary<string, object?> EmptyView = new Dictionary<string, object?>();

    private string? RenderPart(string part, string? source, IReadOnlyDictionary<string, object?> view, bool html, bool strict)
    {
        if (source is null)
        {
            return null;
        }

        var settings = (html, strict) switch
        {
            (true, true) => EscapedStrict,
            (true, false) => Escaped,
            (false, true) => VerbatimStrict,
            (false, false) => Verbatim,
        };
        try
        {
            return _stubble.Render(source, view, settings);
        }
        catch (StubbleDataMissException e)
        {
            var variable = MissingName().Match(e.Message) is { Success: true } m ? m.Groups[1].Value : e.Message;
            throw new TemplateRenderException(part, LineOfTag(source, variable), variable, e);
        }
        catch (StubbleException e)
        {
            throw ParseError(part, source, e);
        }
    }

    private static TemplateParseException ParseError(string part, string source, StubbleException e)
    {
        // Stubble names the section left open ("Unclosed Block 'x' at 40") or where it gave up on a tag ("Unclosed
        // Tag at 37", the end of the text), neither of which is where the author has to look; find the opening.
        int line;
        if (BlockInMessage().Match(e.Message) is { Success: true } block)
        {
            line = LineOfTag(source, block.Groups[1].Value);
        }
        else if (UnclosedTagOffset(source) is { } unclosed)
        {
            line = LineAt(source, unclosed);
        }
        else if (OffsetInMessage().Match(e.Message) is { Success: true } offset &&
            int.TryParse(offset.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var position))
        {
            line = LineAt(source, position);
        }
        else
        {
            line = 1;
        }

        return new TemplateParseException(part, line, e.Message, e);
    }

    /// <summary>The offset of the first <c>{{</c> that is not closed before the next one opens (null when every tag
    /// closes). Assumes the default delimiters, as the fallback to Stubble's offset covers the rest.</summary>
    private static int? UnclosedTagOffset(string source)
    {
        for (var open = source.IndexOf("{{", StringComparison.Ordinal); open >= 0;)
        {
            var close = source.IndexOf("}}", open + 2, StringComparison.Ordinal);
            var next = source.IndexOf("{{", open + 2, StringComparison.Ordinal);
            if (close < 0 || (next >= 0 && next < close))
            {
                return open;
            }

            open = source.IndexOf("{{", close + 2, StringComparison.Ordinal);
        }

        return null;
    }

    /// <summary>The line of the first tag naming <paramref name="name"/> (1 when none is found).</summary>
    private static int LineOfTag(string source, string name)
    {
        var tag = new Regex(@"\{\{\{?\s*[&#^/]?\s*" + Regex.Escape(name) + @"\s*\}?\}\}", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1))
            .Match(source);
        return tag.Success ? LineAt(source, tag.Index) : 1;
    }

    private static int LineAt(string source, int position) =>
        source.AsSpan(0, Math.Clamp(position, 0, source.Length)).Count('\n') + 1;

    [GeneratedRegex(@"^'(.*)' is undefined", RegexOptions.CultureInvariant)]
    private static partial Regex MissingName();

    [GeneratedRegex(@"\bat (\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex OffsetInMessage();

    [GeneratedRegex(@"Block '([^']*)'", RegexOptions.CultureInvariant)]
    private static partial Regex BlockInMessage();
}
