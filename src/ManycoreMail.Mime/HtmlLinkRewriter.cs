using System.Net;
using System.Text;

namespace ManycoreMail.Mime;

/// <summary>Rewrites the href of every &lt;a&gt; and &lt;area&gt; element in every text/html part at any
/// multipart depth (click tracking), and optionally inserts the open pixel in the same pass, keeping each part's
/// charset and Content-Transfer-Encoding.</summary>
/// <remarks>
/// <para>The callback sees the URL as a browser would follow it: HTML character references decoded
/// (&amp;amp; → &amp;), the part's charset decoded, tabs and line breaks removed and surrounding whitespace trimmed.
/// It returns the new URL, or null (or the same URL) to leave the link alone. A replacement is written back as
/// <c>href="…"</c> with &amp; " &lt; &gt; escaped, and anything outside ASCII as a numeric character reference
/// unless the part may carry UTF-8; the attribute name keeps its spelling and every other byte of the tag stays.</para>
/// <para>Only absolute http: and https: URLs reach the callback. That leaves alone mailto:, tel:, sms:, in-page
/// anchors (#…), empty hrefs and relative ones, and schemes a redirect must never lead to (javascript:, data:);
/// URLs holding a template placeholder ({{…}}, also percent-encoded) are skipped too, since they are filled in
/// later and a token would carry the placeholder. Elements with a <c>data-no-track</c> attribute are left byte
/// for byte as they are: the attribute is kept rather than removed, so that a message without trackable links
/// comes back unchanged (null), and data-* attributes are ignored by every mail client anyway.</para>
/// <para>The scan follows the HTML tokenizer for start tags: attribute values double-quoted, single-quoted or
/// unquoted; tag and attribute names in any case; only the first href of an element counts (as in browsers);
/// a tag cut off by the end of the part is dropped by browsers and not rewritten here; script and style content
/// is skipped. Comments are scanned like markup, because Outlook's conditional comments
/// (&lt;!--[if mso]&gt;…) hold links it shows.</para>
/// </remarks>
public static class HtmlLinkRewriter
{
    /// <summary>Returns the new body (CRLF), or null when no link was replaced and no pixel inserted; an
    /// exception from <paramref name="rewriteUrl"/> propagates.</summary>
    /// <param name="message">The whole message.</param>
    /// <param name="headers">Its parsed header block.</param>
    /// <param name="rewriteUrl">Original URL → replacement, or null to leave that link alone.</param>
    /// <param name="pixelHtml">When not null, inserted before the last &lt;/body&gt; of every HTML part, exactly as
    /// <see cref="HtmlBeacon.Inject"/> does, so that tracking needs one pass over the message.</param>
    /// <param name="trackTextLinks">Also replace bare http(s) URLs in text/plain parts (<c>track-text-links</c>).
    /// A URL there ends at whitespace, a control character, a non-ASCII byte or one of &lt; &gt; " (so
    /// &lt;https://…&gt; works), and trailing sentence punctuation is not part of it. A replacement that is not
    /// printable ASCII, or that would push a 7bit/8bit line past 998 characters, leaves that URL alone.</param>
    /// <param name="placeholders">When not null, each <c>{{name}}</c> in every text/html and text/plain part is
    /// replaced by its value in the same pass (the per-recipient <c>{{unsubscribe_url}}</c>). Links holding a
    /// placeholder are never passed to <paramref name="rewriteUrl"/>, so a filled-in value is not tracked.</param>
    public static byte[]? Rewrite(ReadOnlyMemory<byte> message, MessageHeaders headers, Func<string, string?> rewriteUrl,
        string? pixelHtml = null, bool trackTextLinks = false, IReadOnlyDictionary<string, string>? placeholders = null)
    {
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(rewriteUrl);
        var pixel = pixelHtml is null ? null : new HtmlBeacon.PixelEditor(pixelHtml);
        IPartContentEditor html = new LinkEditor(rewriteUrl, pixel);
        IPartContentEditor? plain = trackTextLinks ? new TextLinkEditor(rewriteUrl) : null;
        if (placeholders is { Count: > 0 })
        {
            html = new CombinedEditor(html, new PlaceholderEditor(placeholders, html: true));
            var plainPlaceholders = new PlaceholderEditor(placeholders, html: false);
            plain = plain is null ? plainPlaceholders : new CombinedEditor(plain, plainPlaceholders);
        }
        return HtmlPartRewriter.Rewrite(message, headers, html, plain);
    }

    /// <summary>True for a URL (as the callback would see it) that click tracking may replace.</summary>
    public static bool IsTrackable(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        return (url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            && !url.Contains("{{", StringComparison.Ordinal) && !url.Contains("%7B%7B", StringComparison.OrdinalIgnoreCase);
    }

    private sealed class LinkEditor(Func<string, string?> rewriteUrl, HtmlBeacon.PixelEditor? pixel) : IPartContentEditor
    {
        private readonly List<ContentEdit> _links = [];

        public void Edit(ReadOnlySpan<byte> html, PartInfo part, List<ContentEdit> edits)
        {
            _links.Clear();
            FindLinks(html, part);
            var insertion = pixel?.Find(html, part.Utf8Allowed);
            foreach (var link in _links)
            {
                if (insertion is { } before && before.Start <= link.Start)
                {
                    edits.Add(before);
                    insertion = null;
                }
                // A "</body>" inside this very href (hostile or odd markup) is where the beacon alone would put the
                // pixel; the pixel wins and the link stays, so that the two edits never overlap.
                if (insertion is { } inside && inside.Start < link.End)
                {
                    continue;
                }
                edits.Add(link);
            }
            if (insertion is { } last)
            {
                edits.Add(last);
            }
        }

        private void FindLinks(ReadOnlySpan<byte> html, PartInfo part)
        {
            var attributes = new List<Attribute>();
            var i = 0;
            // Every round moves i forward.
            while (i < html.Length)
            {
                var lt = html[i..].IndexOf((byte)'<');
                if (lt < 0)
                {
                    return;
                }
                var position = i + lt;
                var k = position + 1;
                if (k < html.Length && html[k] == (byte)'!')
                {
                    // "<!--" is stepped over so that the markup inside comments is scanned (see remarks);
                    // "<!DOCTYPE …>", "<![endif]>" and the like end at the next '>'.
                    i = html[k..].StartsWith("!--"u8) ? k + 3 : SkipPast(html, k, (byte)'>');
                    continue;
                }
                if (k < html.Length && html[k] is (byte)'/' or (byte)'?')
                {
                    i = SkipPast(html, k, (byte)'>');
                    continue;
                }
                if (k >= html.Length || !IsAsciiLetter(html[k]))
                {
                    i = k; // "a < b" in text: not a tag
                    continue;
                }
                // The tag name runs to whitespace, '/' or '>' (tokenizer rule): "<a:x>" or "<a-b>" is not a link.
                var nameEnd = k;
                while (nameEnd < html.Length && !IsSpace(html[nameEnd]) && html[nameEnd] is not ((byte)'/' or (byte)'>'))
                {
                    nameEnd++;
                }
                var name = html[k..nameEnd];
                attributes.Clear();
                var tagEnd = ReadAttributes(html, nameEnd, attributes);
                if (tagEnd < 0)
                {
                    return; // cut off by the end of the part: browsers drop such a tag
                }
                if (Ascii.EqualsIgnoreCase(name, "a"u8) || Ascii.EqualsIgnoreCase(name, "area"u8))
                {
                    AddLink(html, part, attributes);
                }
                i = tagEnd;
                if (Ascii.EqualsIgnoreCase(name, "script"u8) || Ascii.EqualsIgnoreCase(name, "style"u8))
                {
                    i = SkipRawText(html, i, name);
                }
            }
        }

        private void AddLink(ReadOnlySpan<byte> html, PartInfo part, List<Attribute> attributes)
        {
            Attribute? href = null;
            foreach (var attribute in attributes)
            {
                var name = html[attribute.NameStart..attribute.NameEnd];
                if (Ascii.EqualsIgnoreCase(name, "data-no-track"u8))
                {
                    return;
                }
                if (href is null && Ascii.EqualsIgnoreCase(name, "href"u8))
                {
                    href = attribute;
                }
            }
            if (href is not { HasValue: true } link)
            {
                return;
            }
            var url = BrowserUrl(MimeCharsets.Decode(html[link.ValueStart..link.ValueEnd], part.Charset));
            if (!IsTrackable(url) || rewriteUrl(url) is not { } replacement || replacement == url)
            {
                return;
            }
            byte[] written = [.. html[link.NameStart..link.NameEnd], (byte)'=', (byte)'"',
                .. HtmlPartText.ToBytes(replacement, part.Utf8Allowed, escapeMarkup: true), (byte)'"'];
            _links.Add(new ContentEdit(link.NameStart, link.End, written, MayBreakBefore: true));
        }

        /// <summary>What a browser follows: character references decoded, then (URL standard) tabs and newlines
        /// removed and leading/trailing C0 controls and spaces trimmed.</summary>
        private static string BrowserUrl(string value)
        {
            var decoded = WebUtility.HtmlDecode(value);
            var builder = new StringBuilder(decoded.Length);
            foreach (var c in decoded)
            {
                if (c is not ('\t' or '\n' or '\r'))
                {
                    builder.Append(c);
                }
            }
            var start = 0;
            var end = builder.Length;
            while (start < end && builder[start] <= ' ')
            {
                start++;
            }
            while (end > start && builder[end - 1] <= ' ')
            {
                end--;
            }
            return builder.ToString(start, end - start);
        }
    }

    /// <summary>Bare http(s) URLs in plain text.</summary>
    private sealed class TextLinkEditor(Func<string, string?> rewriteUrl) : IPartContentEditor
    {
        public void Edit(ReadOnlySpan<byte> text, PartInfo part, List<ContentEdit> edits)
        {
            var i = 0;
            // Every round moves i forward.
            while (i < text.Length)
            {
                var index = IndexOfScheme(text, i, out var schemeLength);
                if (index < 0)
                {
                    return;
                }
                var end = index + schemeLength;
                while (end < text.Length && text[end] is > (byte)' ' and < 0x7F and not ((byte)'<' or (byte)'>' or (byte)'"'))
                {
                    end++;
                }
                while (end > index + schemeLength && text[end - 1] is (byte)'.' or (byte)',' or (byte)';' or (byte)':' or (byte)'!' or (byte)'?' or (byte)'\'' or (byte)'*')
                {
                    end--;
                }
                if (end > index + schemeLength && text[end - 1] == (byte)')' && !text[index..end].Contains((byte)'('))
                {
                    end--; // "(see https://a.example/x)": the parenthesis is the sentence's
                }
                i = Math.Max(end, index + schemeLength);
                if (end == index + schemeLength)
                {
                    continue; // "https://" alone
                }
                var url = Encoding.ASCII.GetString(text[index..end]);
                if (!IsTrackable(url) || rewriteUrl(url) is not { } replacement || replacement == url || !IsPrintableAscii(replacement))
                {
                    continue;
                }
                edits.Add(new ContentEdit(index, end, Encoding.ASCII.GetBytes(replacement), MayBreakBefore: false));
            }
        }

        /// <summary>The next "http://" or "https://" (any case) at or after <paramref name="from"/> that does not
        /// continue a word ("xhttp://"), or -1.</summary>
        private static int IndexOfScheme(ReadOnlySpan<byte> text, int from, out int schemeLength)
        {
            schemeLength = 0;
            // Every round moves from forward.
            while (from < text.Length)
            {
                var colon = text[from..].IndexOf("://"u8);
                if (colon < 0)
                {
                    return -1;
                }
                var position = from + colon;
                from = position + 3;
                int start;
                if (position >= 5 && Ascii.EqualsIgnoreCase(text.Slice(position - 5, 5), "https"u8))
                {
                    start = position - 5;
                }
                else if (position >= 4 && Ascii.EqualsIgnoreCase(text.Slice(position - 4, 4), "http"u8))
                {
                    start = position - 4;
                }
                else
                {
                    continue;
                }
                if (start > 0 && IsAsciiLetterOrDigit(text[start - 1]))
                {
                    continue;
                }
                schemeLength = position + 3 - start;
                return start;
            }
            return -1;
        }

        private static bool IsPrintableAscii(string text)
        {
            foreach (var c in text)
            {
                if (c is <= ' ' or >= (char)0x7F)
                {
                    return false;
                }
            }
            return true;
        }
    }

    /// <summary>One attribute of a start tag: the name at [NameStart, NameEnd), the value (without quotes) at
    /// [ValueStart, ValueEnd) when HasValue, and End just after the attribute (after a closing quote).</summary>
    private readonly record struct Attribute(int NameStart, int NameEnd, bool HasValue, int ValueStart, int ValueEnd, int End);

    /// <summary>Reads the attributes after a tag name (HTML tokenizer, before-attribute-name state onwards) and
    /// returns the offset after the tag's '&gt;', or -1 when the part ends inside the tag.</summary>
    private static int ReadAttributes(ReadOnlySpan<byte> html, int k, List<Attribute> attributes)
    {
        // Every round consumes at least one byte or returns.
        while (true)
        {
            while (k < html.Length && (IsSpace(html[k]) || html[k] == (byte)'/'))
            {
                k++;
            }
            if (k >= html.Length)
            {
                return -1;
            }
            if (html[k] == (byte)'>')
            {
                return k + 1;
            }
            var nameStart = k;
            k++; // a first '=' belongs to the name (tokenizer rule), so the name is never empty
            while (k < html.Length && !IsSpace(html[k]) && html[k] is not ((byte)'/' or (byte)'>' or (byte)'='))
            {
                k++;
            }
            var nameEnd = k;
            while (k < html.Length && IsSpace(html[k]))
            {
                k++;
            }
            if (k >= html.Length || html[k] != (byte)'=')
            {
                attributes.Add(new Attribute(nameStart, nameEnd, false, nameEnd, nameEnd, nameEnd));
                continue;
            }
            k++;
            while (k < html.Length && IsSpace(html[k]))
            {
                k++;
            }
            if (k >= html.Length)
            {
                return -1;
            }
            if (html[k] is (byte)'"' or (byte)'\'')
            {
                var close = html[(k + 1)..].IndexOf(html[k]);
                if (close < 0)
                {
                    return -1;
                }
                var valueEnd = k + 1 + close;
                attributes.Add(new Attribute(nameStart, nameEnd, true, k + 1, valueEnd, valueEnd + 1));
                k = valueEnd + 1;
                continue;
            }
            var valueStart = k;
            while (k < html.Length && !IsSpace(html[k]) && html[k] != (byte)'>')
            {
                k++;
            }
            attributes.Add(new Attribute(nameStart, nameEnd, true, valueStart, k, k));
        }
    }

    /// <summary>Offset after the end tag of a raw-text element (script, style), or the end of the part.</summary>
    private static int SkipRawText(ReadOnlySpan<byte> html, int i, ReadOnlySpan<byte> name)
    {
        // Every round moves i forward.
        while (i < html.Length)
        {
            var index = html[i..].IndexOf("</"u8);
            if (index < 0)
            {
                return html.Length;
            }
            var k = i + index + 2;
            if (k + name.Length <= html.Length && Ascii.EqualsIgnoreCase(html.Slice(k, name.Length), name)
                && (k + name.Length == html.Length || !IsAsciiLetterOrDigit(html[k + name.Length])))
            {
                return i + index;
            }
            i = k;
        }
        return html.Length;
    }

    private static int SkipPast(ReadOnlySpan<byte> html, int k, byte b)
    {
        var index = html[k..].IndexOf(b);
        return index < 0 ? html.Length : k + index + 1;
    }

    private static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or (byte)'\f';

    private static bool IsAsciiLetter(byte b) => b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z');

    private static bool IsAsciiLetterOrDigit(byte b) => IsAsciiLetter(b) || b is >= (byte)'0' and <= (byte)'9';
}
