using System.Text;

namespace ManycoreMail.Mime.Tests;

/// <summary><see cref="HtmlLinkRewriter.Rewrite"/> filling in placeholders in the same pass as links and pixel.</summary>
public sealed class HtmlLinkRewriterPlaceholderTests
{
    private static readonly Dictionary<string, string> Unsubscribe = new() { ["unsubscribe_url"] = "https://t.example/u/T?a=1&b=2" };

    private static string? Rewrite(string message, IReadOnlyDictionary<string, string>? placeholders, string? pixel = null,
        bool trackTextLinks = false)
    {
        var bytes = Encoding.UTF8.GetBytes(message);
        var body = HtmlLinkRewriter.Rewrite(bytes, Fixture.Parse(bytes), url => "https://t.example/c?u=" + url, pixel, trackTextLinks, placeholders);
        return body is null ? null : Encoding.UTF8.GetString(body);
    }

    [Fact]
    public void Html_placeholders_are_filled_in_escaped_and_their_links_are_not_tracked()
    {
        var body = Rewrite("Content-Type: text/html; charset=utf-8\r\n\r\n" +
            "<a href=\"https://shop.example/x\">x</a> <a href=\"{{unsubscribe_url}}\">u</a> {{unsubscribe_url}} {{other}}</body>",
            Unsubscribe, "<img src=\"p\">");

        Assert.Equal("<a href=\"https://t.example/c?u=https://shop.example/x\">x</a> <a href=\"https://t.example/u/T?a=1&amp;b=2\">u</a> " +
            "https://t.example/u/T?a=1&amp;b=2 {{other}}<img src=\"p\"></body>", body);
    }

    [Fact]
    public void Plain_placeholders_are_filled_in_with_or_without_text_link_tracking()
    {
        const string message = "Content-Type: text/plain; charset=us-ascii\r\n\r\nGo https://shop.example/x or leave: {{unsubscribe_url}}\r\n";

        Assert.Equal("Go https://shop.example/x or leave: https://t.example/u/T?a=1&b=2\r\n", Rewrite(message, Unsubscribe));
        Assert.Equal("Go https://t.example/c?u=https://shop.example/x or leave: https://t.example/u/T?a=1&b=2\r\n",
            Rewrite(message, Unsubscribe, trackTextLinks: true));
        Assert.Null(Rewrite(message, null));
    }

    [Fact]
    public void A_value_a_plain_part_cannot_carry_leaves_the_placeholder()
    {
        const string message = "Content-Type: text/plain; charset=us-ascii\r\n\r\nLeave: {{unsubscribe_url}}\r\n";

        Assert.Null(Rewrite(message, new Dictionary<string, string> { ["unsubscribe_url"] = "https://t.example/\u00e9" }));
    }

    [Fact]
    public void Quoted_printable_parts_get_the_value_in_their_encoding()
    {
        const string message = "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
            "<p style=3D\"x\">Leave: <a href=3D\"{{unsubscribe_url}}\">here</a></p>\r\n";

        var body = Rewrite(message, Unsubscribe)!;

        Assert.Equal("<p style=\"x\">Leave: <a href=\"https://t.example/u/T?a=1&amp;b=2\">here</a></p>",
            Encoding.UTF8.GetString(TransferEncodings.DecodeQuotedPrintable(Encoding.ASCII.GetBytes(body.TrimEnd()))));
    }
}
