using System.Text;

namespace ManycoreMail.Mime;

/// <summary>Replaces template placeholders (<c>{{name}}</c>, exactly so spelt) in a text part's decoded content:
/// the per-recipient values a sender fills in, such as <c>{{unsubscribe_url}}</c>.</summary>
/// <remarks>In HTML the value is written as attribute-safe text (&amp; " &lt; &gt; escaped), because a placeholder
/// usually stands in an href; in plain text it is written as it is, and left out where the part cannot carry it
/// (non-ASCII text in a part that may not take UTF-8). A replacement never breaks a line: one that would push a
/// 7bit/8bit line past 998 characters leaves that placeholder as it is.</remarks>
internal sealed class PlaceholderEditor : IPartContentEditor
{
    private readonly (byte[] Name, string Value)[] _placeholders;
    private readonly bool _html;

    public PlaceholderEditor(IReadOnlyDictionary<string, string> values, bool html)
    {
        _placeholders = [.. values.Select(p => (Encoding.ASCII.GetBytes("{{" + p.Key + "}}"), p.Value))];
        _html = html;
    }

    public void Edit(ReadOnlySpan<byte> content, PartInfo part, List<ContentEdit> edits)
    {
        var i = 0;
        // Every round moves i forward.
        while (i < content.Length)
        {
            var open = content[i..].IndexOf("{{"u8);
            if (open < 0)
            {
                return;
            }
            var position = i + open;
            i = position + 2;
            foreach (var (name, value) in _placeholders)
            {
                if (!content[position..].StartsWith(name) || ToBytes(value, part.Utf8Allowed) is not { } replacement)
                {
                    continue;
                }
                edits.Add(new ContentEdit(position, position + name.Length, replacement, MayBreakBefore: false));
                i = position + name.Length;
                break;
            }
        }
    }

    private byte[]? ToBytes(string value, bool utf8Allowed)
    {
        if (_html)
        {
            return HtmlPartText.ToBytes(value, utf8Allowed, escapeMarkup: true);
        }
        return utf8Allowed || Ascii.IsValid(value) ? Encoding.UTF8.GetBytes(value) : null;
    }
}

/// <summary>Two editors in one pass over a part: their edits merged in order. Where they would overlap, the
/// first editor's edit wins and the second's is dropped, so the result keeps the walk's contract.</summary>
internal sealed class CombinedEditor(IPartContentEditor first, IPartContentEditor second) : IPartContentEditor
{
    private readonly List<ContentEdit> _first = [];
    private readonly List<ContentEdit> _second = [];

    public void Edit(ReadOnlySpan<byte> content, PartInfo part, List<ContentEdit> edits)
    {
        _first.Clear();
        _second.Clear();
        first.Edit(content, part, _first);
        second.Edit(content, part, _second);
        var j = 0;
        var end = 0;
        foreach (var edit in _first)
        {
            for (; j < _second.Count && _second[j].Start < edit.Start; j++)
            {
                if (_second[j].Start >= end && _second[j].End <= edit.Start)
                {
                    edits.Add(_second[j]);
                    end = _second[j].End;
                }
            }
            edits.Add(edit);
            end = edit.End;
        }
        for (; j < _second.Count; j++)
        {
            if (_second[j].Start >= end)
            {
                edits.Add(_second[j]);
                end = _second[j].End;
            }
        }
    }
}
