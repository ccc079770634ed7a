using System.Collections.Concurrent;
using Stubble.Core.Classes;
using Stubble.Core.Parser;
using Stubble.Core.Parser.Interfaces;
using Stubble.Core.Tokens;

namespace ManycoreMail.Templates;

/// <summary>Stubble's parser behind a bounded cache keyed by the source, so a template version (its source never
/// changes) is parsed once however many sends render it. Stubble's own cached parser does the same but does not say
/// how often it parsed, which is what a test of "once" needs. When full the cache starts afresh: simple, bounded, and
/// the versions still in use are parsed again once.</summary>
internal sealed class ParseCache(int limit) : IMustacheParser
{
    private readonly InstanceMustacheParser _parser = new();
    private readonly ConcurrentDictionary<(string Text, string? Start, string? End, int Indent), MustacheTemplate> _parsed = new();
    private long _parses;

    /// <summary>How many times a source was parsed (not found in the cache).</summary>
    public long Parses => Interlocked.Read(ref _parses);

    public int Count => _parsed.Count;

    public MustacheTemplate Parse(string text, Tags? startingTags = null, int lineIndent = 0, ParserPipeline? pipeline = null)
    {
        var key = (text, startingTags?.StartTag, startingTags?.EndTag, lineIndent);
        if (_parsed.TryGetValue(key, out var template))
        {
            return template;
        }

        template = _parser.Parse(text, startingTags, lineIndent, pipeline);
        Interlocked.Increment(ref _parses);
        if (_parsed.Count >= limit)
        {
            _parsed.Clear();
        }

        _parsed[key] = template;
        return template;
    }
}
