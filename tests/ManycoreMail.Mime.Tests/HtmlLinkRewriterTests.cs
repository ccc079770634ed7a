using System.Text;

namespace ManycoreMail.Mime.Tests;

public sealed class HtmlLinkRewriterTests
{
    private const string Pixel = "<img src=\"https://t.example.org/o/T\">";

    /// <summary>Every trackable URL becomes https://t.example/c?u=URL; the URLs the callback saw are recorded.</summary>
    private sealed class Tracker
    {
        public List<string> Seen { get; } = [];

        public string? Rewrite(string url)
        {
            Seen.Add(url);
            return "https://t.example/c?u=" + url;
        }
    }

    private static string? Rewrite(string message, Func<string, string?> callback, string? pixel = null, bool trackTextLinks = false)
    {
        var bytes = Encoding.UTF8.GetBytes(message);
        var body = HtmlLinkRewriter.Rewrite(bytes, Fixture.Parse(bytes), callback, pixel, trackTextLinks);
        return body is null ? null : Encoding.UTF8.GetString(body);
    }

    private static string Html(string html, string headers = "Content-Type: text/html; charset=utf-8") => $"{headers}\r\n\r\n{html}";

    private static string Crlf(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal);

    [Theory]
    [InlineData("<a href=\"https://shop.example/x\">x</a>", "<a href=\"https://t.example/c?u=https://shop.example/x\">x</a>")]
    [InlineData("<a href='https://shop.example/x'>x</a>", "<a href=\"https://t.example/c?u=https://shop.example/x\">x</a>")]
    [InlineData("<a href=https://shop.example/x>x</a>", "<a href=\"https://t.example/c?u=https://shop.example/x\">x</a>")]
    [InlineData("<a class=b href = \"https://shop.example/x\" id=c>x</a>", "<a class=b href=\"https://t.example/c?u=https://shop.example/x\" id=c>x</a>")]
    [InlineData("<A HREF=\"HTTP://shop.example/x\">x</A>", "<A HREF=\"https://t.example/c?u=HTTP://shop.example/x\">x</A>")]
    [InlineData("<AREA shape=rect Href='http://shop.example/m'>", "<AREA shape=rect Href=\"https://t.example/c?u=http://shop.example/m\">")]
    [InlineData("<a\r\nhref=\"https://shop.example/x\"\r\n>x</a>", "<a\r\nhref=\"https://t.example/c?u=https://shop.example/x\"\r\n>x</a>")]
    [InlineData("<a/href=\"https://shop.example/x\">x</a>", "<a/href=\"https://t.example/c?u=https://shop.example/x\">x</a>")]
    [InlineData("<a title=\"a > b\" href=\"https://shop.example/x\">x</a>", "<a title=\"a > b\" href=\"https://t.example/c?u=https://shop.example/x\">x</a>")]
    public void Href_values_in_every_quoting_style_and_case_are_replaced(string html, string expected)
    {
        Assert.Equal(expected, Rewrite(Html(html), new Tracker().Rewrite));
    }

    [Theory]
    [InlineData("<a href=\"mailto:a@example.com\">m</a>")]
    [InlineData("<a href=\"MAILTO:a@example.com\">m</a>")]
    [InlineData("<a href=\"tel:+4912345\">t</a>")]
    [InlineData("<a href=\"sms:+4912345\">s</a>")]
    [InlineData("<a href=\"#top\">top</a>")]
    [InlineData("<a href=\"\">empty</a>")]
    [InlineData("<a href>bare</a>")]
    [InlineData("<a href=\"{{unsubscribe_url}}\">u</a>")]
    [InlineData("<a href=\"https://shop.example/{{ id }}\">u</a>")]
    [InlineData("<a href=\"https://shop.example/%7B%7Bid%7D%7D\">u</a>")]
    [InlineData("<a href=\"javascript:alert(1)\">j</a>")]
    [InlineData("<a href=\"/relative\">r</a>")]
    [InlineData("<a data-no-track href=\"https://shop.example/x\">x</a>")]
    [InlineData("<a href=\"https://shop.example/x\" DATA-NO-TRACK=\"1\">x</a>")]
    [InlineData("<link href=\"https://shop.example/style.css\"><img src=\"https://shop.example/i.png\">")]
    [InlineData("<abbr href=\"https://shop.example/x\">x</abbr><a:b href=\"https://shop.example/x\">")]
    [InlineData("<style>a{} <a href=\"https://shop.example/x\"></style><script>\"<a href='https://shop.example/y'>\"</script>")]
    public void Links_that_must_not_be_tracked_are_left_alone(string html)
    {
        var tracker = new Tracker();
        Assert.Null(Rewrite(Html($"<body>{html}</body>"), tracker.Rewrite));
        Assert.Empty(tracker.Seen);
    }

    [Fact]
    public void Untracked_links_stay_byte_for_byte_next_to_tracked_ones()
    {
        var html = "<a href=\"mailto:a@b\">m</a><a data-no-track href=\"https://x.example/\">n</a><a href=\"https://y.example/\">y</a>";
        Assert.Equal("<a href=\"mailto:a@b\">m</a><a data-no-track href=\"https://x.example/\">n</a><a href=\"https://t.example/c?u=https://y.example/\">y</a>",
            Rewrite(Html(html), new Tracker().Rewrite));
    }

    [Fact]
    public void Only_the_first_href_of_an_element_counts_as_in_browsers()
    {
        var tracker = new Tracker();
        var body = Rewrite(Html("<a href=\"https://first.example/\" href=\"https://second.example/\">x</a>"), tracker.Rewrite);
        Assert.Equal(["https://first.example/"], tracker.Seen);
        Assert.Equal("<a href=\"https://t.example/c?u=https://first.example/\" href=\"https://second.example/\">x</a>", body);
    }

    [Fact]
    public void Character_references_are_decoded_for_the_callback_and_the_replacement_is_escaped()
    {
        var tracker = new Tracker();
        var body = Rewrite(Html("<a href=\"https://shop.example/?a=1&amp;b=2&#38;c=&quot;3&quot;\">x</a>"), url =>
        {
            tracker.Seen.Add(url);
            return "https://t.example/c?x=1&y=\"<2>\"";
        });
        Assert.Equal(["https://shop.example/?a=1&b=2&c=\"3\""], tracker.Seen);
        Assert.Equal("<a href=\"https://t.example/c?x=1&amp;y=&quot;&lt;2&gt;&quot;\">x</a>", body);
    }

    [Fact]
    public void Whitespace_and_line_breaks_in_an_href_are_dropped_as_a_browser_does()
    {
        var tracker = new Tracker();
        Rewrite(Html("<a href=\"  https://shop.example/a\r\nb\t \">x</a>"), tracker.Rewrite);
        Assert.Equal(["https://shop.example/ab"], tracker.Seen);
    }

    [Fact]
    public void A_callback_returning_null_or_the_same_url_changes_nothing()
    {
        var html = Html("<body><a href=\"https://a.example/\">a</a><A HREF=https://b.example/?x=1&amp;y=2>b</A></body>");
        var seen = new List<string>();
        Assert.Null(Rewrite(html, url => { seen.Add(url); return null; }));
        Assert.Equal(["https://a.example/", "https://b.example/?x=1&y=2"], seen);
        Assert.Null(Rewrite(html, url => url));
    }

    [Fact]
    public void Non_ascii_replacement_is_utf8_in_an_8bit_utf8_part_and_a_reference_in_a_7bit_one()
    {
        const string Replacement = "https://t.example/é";
        Assert.Equal("<a href=\"https://t.example/é\">x</a>",
            Rewrite(Html("<a href=\"https://a.example/\">x</a>", "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit"), _ => Replacement));
        Assert.Equal("<a href=\"https://t.example/&#233;\">x</a>",
            Rewrite(Html("<a href=\"https://a.example/\">x</a>"), _ => Replacement));
    }

    [Theory]
    [InlineData("<a href=")]
    [InlineData("<a href=\"https://shop.example/x")]
    [InlineData("<a href='https://shop.example/x'")]
    [InlineData("<a href=https://shop.example/x")]
    [InlineData("<a")]
    [InlineData("<")]
    [InlineData("<!--")]
    [InlineData("<!-- <a href=\"https://x.example/\"")]
    [InlineData("<style>")]
    [InlineData("< a href=\"https://x.example/\">")]
    [InlineData("<a =href=\"https://x.example/\">")]
    [InlineData("a < b && <p <a href")]
    public void Malformed_html_never_throws_and_a_cut_off_tag_is_not_rewritten(string html)
    {
        var tracker = new Tracker();
        Assert.Null(Rewrite(Html("<p>text</p>" + html), tracker.Rewrite));
        Assert.Empty(tracker.Seen);
    }

    [Fact]
    public void Unclosed_elements_around_a_complete_tag_do_not_stop_the_rewrite()
    {
        var body = Rewrite(Html("<div><p><b>bold <a href=\"https://a.example/\">a<table><tr><td>"), new Tracker().Rewrite);
        Assert.Equal("<div><p><b>bold <a href=\"https://t.example/c?u=https://a.example/\">a<table><tr><td>", body);
    }

    [Fact]
    public void Links_inside_outlook_conditional_comments_are_rewritten()
    {
        var body = Rewrite(Html("<!--[if mso]><a href=\"https://a.example/\">a</a><![endif]-->"), new Tracker().Rewrite);
        Assert.Equal("<!--[if mso]><a href=\"https://t.example/c?u=https://a.example/\">a</a><![endif]-->", body);
    }

    [Fact]
    public void Text_parts_and_attachments_are_untouched()
    {
        var message = Crlf("""
            Content-Type: multipart/mixed; boundary=b

            --b
            Content-Type: text/plain

            <a href="https://plain.example/">not html</a> https://plain.example/
            --b
            Content-Type: text/html
            Content-Disposition: attachment; filename=a.html

            <a href="https://attached.example/">x</a>
            --b--
            """);
        var tracker = new Tracker();
        Assert.Null(Rewrite(message, tracker.Rewrite));
        Assert.Empty(tracker.Seen);
    }

    [Fact]
    public void Base64_and_quoted_printable_parts_nested_in_mixed_are_rewritten_and_reencoded()
    {
        var base64Html = "<html><body><a href=\"https://b64.example/p?a=1&amp;b=2\">Grüße</a></body></html>";
        var base64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(base64Html), Base64FormattingOptions.InsertLineBreaks);
        // The QP href is split by a soft line break in the middle of the URL.
        var message = Crlf($"""
            Content-Type: multipart/mixed; boundary=outer

            --outer
            Content-Type: multipart/alternative; boundary="inner"

            --inner
            Content-Type: text/html; charset=utf-8
            Content-Transfer-Encoding: base64

            {base64}
            --inner
            Content-Type: text/html; charset="UTF-8"
            Content-Transfer-Encoding: quoted-printable

            <html><body><p style=3D"x">Gr=C3=BC=C3=9Fe</p><a href=3D"https://qp.examp=
            le/path">link</a></body></html>
            --inner--
            --outer
            Content-Type: application/octet-stream
            Content-Transfer-Encoding: base64

            AAECAw==
            --outer--
            """);
        var tracker = new Tracker();
        var body = Rewrite(message, tracker.Rewrite, Pixel)!;
        Assert.Equal(["https://b64.example/p?a=1&b=2", "https://qp.example/path"], tracker.Seen);

        var lines = body.Split("\r\n");
        var b64Start = Array.IndexOf(lines, "Content-Transfer-Encoding: base64") + 2;
        var b64End = Array.IndexOf(lines, "--inner", b64Start);
        Assert.All(lines[b64Start..b64End], line => Assert.InRange(line.Length, 1, 76));
        Assert.Equal($"<html><body><a href=\"https://t.example/c?u=https://b64.example/p?a=1&amp;b=2\">Grüße</a>{Pixel}</body></html>",
            Encoding.UTF8.GetString(Convert.FromBase64String(string.Concat(lines[b64Start..b64End]))));

        var qpStart = Array.IndexOf(lines, "Content-Transfer-Encoding: quoted-printable") + 2;
        var qpEnd = Array.IndexOf(lines, "--inner--");
        Assert.All(lines[qpStart..qpEnd], line => Assert.True(line.Length <= 76, line));
        var qp = Encoding.UTF8.GetString(TransferEncodings.DecodeQuotedPrintable(Encoding.ASCII.GetBytes(string.Join("\r\n", lines[qpStart..qpEnd]))));
        Assert.Equal($"<html><body><p style=\"x\">Grüße</p><a href=\"https://t.example/c?u=https://qp.example/path\">link</a>{Pixel}</body></html>", qp);

        // Everything after the HTML parts is copied as it was.
        Assert.EndsWith(Crlf("--inner--\n--outer\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAECAw==\n--outer--"), body, StringComparison.Ordinal);
    }

    [Fact]
    public void Latin1_part_keeps_every_byte_outside_the_hrefs()
    {
        byte[] Latin1(string text) => Encoding.Latin1.GetBytes(text);
        byte[] html = [.. Latin1("<body><p>Café à la crème</p><a href=\"https://shop.example/caf"), 0xE9, .. Latin1("\">Zürich</a> ÿ</body>")];
        byte[] message = [.. "Content-Type: text/html; charset=ISO-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\n"u8,
            .. Encoding.ASCII.GetBytes(Convert.ToBase64String(html)), .. "\r\n"u8];
        var seen = new List<string>();
        var body = HtmlLinkRewriter.Rewrite(message, Fixture.Parse(message), url => { seen.Add(url); return "https://t.example/c/1"; })!;

        Assert.Equal(["https://shop.example/café"], seen);
        var decoded = Convert.FromBase64String(Encoding.ASCII.GetString(body).Trim());
        Assert.Equal([.. Latin1("<body><p>Café à la crème</p><a href=\"https://t.example/c/1\">Zürich</a> ÿ</body>")], decoded);
    }

    [Fact]
    public void Non_ascii_replacement_in_a_latin1_part_becomes_a_character_reference()
    {
        byte[] message = [.. "Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<p>"u8, 0xE9, .. "</p><a href=x>"u8,
            .. "<a href=\"https://a.example/\">"u8];
        var body = HtmlLinkRewriter.Rewrite(message, Fixture.Parse(message), _ => "https://t.example/€")!;
        Assert.Equal([.. "<p>"u8, 0xE9, .. "</p><a href=x><a href=\"https://t.example/&#8364;\">"u8], body);
    }

    [Fact]
    public void Unknown_or_non_ascii_compatible_charsets_are_left_alone()
    {
        var tracker = new Tracker();
        Assert.Null(Rewrite(Html("<a href=\"https://a.example/\">a</a>", "Content-Type: text/html; charset=utf-16"), tracker.Rewrite));
        Assert.Empty(tracker.Seen);
    }

    [Fact]
    public void A_7bit_line_pushed_past_998_characters_is_broken_before_the_attribute()
    {
        var links = string.Concat(Enumerable.Range(0, 10).Select(i => $"<a href=\"https://shop.example/{i}\">{new string('x', 60)}</a>"));
        var body = Rewrite(Html(links), url => "https://t.example/c/" + new string('t', 60))!;
        Assert.All(body.Split("\r\n"), line => Assert.True(line.Length <= 998, line.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.StartsWith("<a \r\nhref=\"https://t.example/c/", body, StringComparison.Ordinal);
        Assert.Equal(10, body.Split(" \r\nhref=\"https://t.example/c/").Length - 1);

        // Only the line that grows too long is broken: a short line before it keeps its link in place.
        var twoLines = Rewrite(Html("<a href=\"https://a.example/\">a</a>\r\n" + links), url => "https://t.example/c/" + new string('t', 60))!;
        Assert.StartsWith($"<a href=\"https://t.example/c/{new string('t', 60)}\">a</a>\r\n<a \r\nhref=", twoLines, StringComparison.Ordinal);
        Assert.Equal(10, twoLines.Split(" \r\nhref=\"https://t.example/c/").Length - 1);
    }

    [Fact]
    public void The_pixel_alone_is_inserted_as_the_beacon_does()
    {
        var message = Html("<html><body><a href=\"mailto:a@b\">m</a></BODY></html>\r\n");
        var bytes = Encoding.UTF8.GetBytes(message);
        var beacon = HtmlBeacon.Inject(bytes, Fixture.Parse(bytes), Pixel)!;
        var combined = HtmlLinkRewriter.Rewrite(bytes, Fixture.Parse(bytes), _ => "unused", Pixel)!;
        Assert.Equal(beacon, combined);
        Assert.Equal($"<html><body><a href=\"mailto:a@b\">m</a>{Pixel}</BODY></html>\r\n", Encoding.UTF8.GetString(combined));
    }

    [Fact]
    public void Pixel_and_links_in_one_pass_in_document_order()
    {
        var body = Rewrite(Html("<body><a href=\"https://a.example/\">a</a></body><a href=\"https://b.example/\">after</a>"), new Tracker().Rewrite, Pixel);
        Assert.Equal($"<body><a href=\"https://t.example/c?u=https://a.example/\">a</a>{Pixel}</body><a href=\"https://t.example/c?u=https://b.example/\">after</a>", body);
    }

    [Fact]
    public void A_body_close_inside_an_href_keeps_the_pixel_and_leaves_that_link()
    {
        var body = Rewrite(Html("<body><a href=\"https://a.example/</body>\">a</a>"), new Tracker().Rewrite, Pixel);
        Assert.Equal($"<body><a href=\"https://a.example/{Pixel}</body>\">a</a>", body);
    }

    [Fact]
    public void Lf_message_comes_back_with_crlf()
    {
        Assert.Equal("<a href=\"https://t.example/c?u=https://a.example/\">a</a>\r\nmore\r\n",
            Rewrite("Content-Type: text/html\n\n<a href=\"https://a.example/\">a</a>\nmore\n", new Tracker().Rewrite));
    }

    [Fact]
    public void An_exception_from_the_callback_propagates()
    {
        Assert.Throws<FormatException>(() => Rewrite(Html("<a href=\"https://a.example/\">a</a>"), _ => throw new FormatException()));
    }

    [Fact]
    public void Mutated_html_never_throws_null_changes_nothing_and_a_second_pass_finds_nothing_left()
    {
        var sample = Encoding.ASCII.GetBytes("<html><body><a href=\"https://a.example/?x=1&amp;y\" class='c'>a</a><AREA HREF=https://b.example/>"
            + "<!--[if mso]><a data-no-track href=#x>m</a><![endif]--><style>a{}</style><p>text</p></body></html>");
        byte[] alphabet = [.. "<>\"'=/ !-&;#a"u8];
        var random = new Random(12);
        for (var round = 0; round < 2000; round++)
        {
            var html = sample.ToArray();
            for (var mutation = random.Next(1, 6); mutation > 0; mutation--)
            {
                html[random.Next(html.Length)] = alphabet[random.Next(alphabet.Length)];
            }
            var length = random.Next(html.Length + 1); // also cut the part anywhere
            byte[] message = [.. "Content-Type: text/html\r\n\r\n"u8, .. html.AsSpan(0, length)];
            var headers = Fixture.Parse(message);
            Assert.Null(HtmlLinkRewriter.Rewrite(message, headers, _ => null));
            // Every link the first pass saw is replaced, so a second pass finds only replaced ones.
            var rewritten = HtmlLinkRewriter.Rewrite(message, headers, _ => "https://t.example/c");
            if (rewritten is not null)
            {
                byte[] again = [.. "Content-Type: text/html\r\n\r\n"u8, .. rewritten];
                Assert.Null(HtmlLinkRewriter.Rewrite(again, Fixture.Parse(again), _ => "https://t.example/c"));
            }
            HtmlLinkRewriter.Rewrite(message, headers, _ => "https://t.example/c", Pixel);
            byte[] text = [.. "Content-Type: text/plain\r\n\r\n"u8, .. html.AsSpan(0, length)];
            HtmlLinkRewriter.Rewrite(text, Fixture.Parse(text), _ => "https://t.example/c", trackTextLinks: true);
        }
    }

    private static string? RewriteText(string message) =>
        Rewrite(message, new Tracker().Rewrite, trackTextLinks: true);

    [Theory]
    [InlineData("See https://a.example/x.", "See https://t.example/c?u=https://a.example/x.")]
    [InlineData("(see https://a.example/x), or <HTTP://a.example/y>", "(see https://t.example/c?u=https://a.example/x), or <https://t.example/c?u=HTTP://a.example/y>")]
    [InlineData("https://a.example/p?q=(1)&r=2", "https://t.example/c?u=https://a.example/p?q=(1)&r=2")]
    [InlineData("line1\r\nhttp://a.example/\r\n", "line1\r\nhttps://t.example/c?u=http://a.example/\r\n")]
    [InlineData("\"https://a.example/q\"!", "\"https://t.example/c?u=https://a.example/q\"!")]
    public void Text_links_are_replaced_when_asked(string text, string expected)
    {
        Assert.Equal(expected, RewriteText($"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}"));
        Assert.Equal(expected, RewriteText($"Subject: no content type means text/plain\r\n\r\n{text}"));
    }

    [Theory]
    [InlineData("no links at all")]
    [InlineData("xhttps://a.example/ and https:// alone")]
    [InlineData("mailto:a@example.com ftp://a.example/ https://a.example/{{id}}")]
    public void Text_without_trackable_links_is_left_alone(string text)
    {
        Assert.Null(RewriteText($"Content-Type: text/plain\r\n\r\n{text}"));
    }

    [Fact]
    public void Text_links_are_left_alone_unless_asked_and_in_attachments_and_digests()
    {
        var tracker = new Tracker();
        Assert.Null(Rewrite("Content-Type: text/plain\r\n\r\nhttps://a.example/", tracker.Rewrite));
        Assert.Empty(tracker.Seen);
        Assert.Null(RewriteText("Content-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\nhttps://a.example/"));
        Assert.Null(RewriteText("Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: x\r\n\r\nhttps://a.example/\r\n--d--"));
    }

    [Fact]
    public void Text_and_html_alternatives_are_both_rewritten_with_the_qp_url_rejoined()
    {
        var message = Crlf("""
            Content-Type: multipart/alternative; boundary=b

            --b
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: quoted-printable

            Gr=C3=BC=C3=9Fe: https://a.examp=
            le/x
            --b
            Content-Type: text/html

            <a href="https://a.example/x">Grüße</a>
            --b--
            """);
        var body = RewriteText(message)!;
        Assert.Contains("Gr=C3=BC=C3=9Fe: https://t.example/c?u=3Dhttps://a.example/x\r\n--b", body, StringComparison.Ordinal);
        Assert.Contains("<a href=\"https://t.example/c?u=https://a.example/x\">", body, StringComparison.Ordinal);
    }

    [Fact]
    public void A_text_link_that_would_make_a_line_too_long_is_left_alone()
    {
        var line = new string('w', 950) + " https://a.example/1";
        var body = Rewrite($"Content-Type: text/plain\r\n\r\n{line}\r\nhttps://a.example/2", _ => "https://t.example/c/" + new string('t', 60), trackTextLinks: true)!;
        Assert.Equal($"{line}\r\nhttps://t.example/c/{new string('t', 60)}", body);
    }

    [Fact]
    public void A_non_ascii_text_replacement_leaves_the_link_alone()
    {
        Assert.Null(Rewrite("Content-Type: text/plain\r\n\r\nhttps://a.example/", _ => "https://t.example/é", trackTextLinks: true));
    }

    [Theory]
    [InlineData("https://a.example/", true)]
    [InlineData("HTTP://a.example/", true)]
    [InlineData("ftp://a.example/", false)]
    [InlineData("https://a.example/{{x}}", false)]
    [InlineData("https://a.example/%7b%7bx", false)]
    [InlineData("//a.example/", false)]
    [InlineData("", false)]
    public void Is_trackable(string url, bool expected)
    {
        Assert.Equal(expected, HtmlLinkRewriter.IsTrackable(url));
    }
}
