using ManycoreMail.Roles.Tracker;

namespace ManycoreMail.Tests.Tracker;

/// <summary>A click's Location: the URL as written, only what a header cannot carry percent-encoded; never a
/// scheme a browser would run rather than fetch.</summary>
public sealed class RedirectLocationTests
{
    [Theory]
    [InlineData("https://shop.example.com/p?id=1&q=a%20b#reviews")]
    [InlineData("http://example.org/a/../b;x?y=1&y=2&z#top")]
    [InlineData("HTTPS://Example.COM:8443/Case/Kept?Q=1")]
    public void Printable_ascii_urls_go_through_character_for_character(string url)
    {
        Assert.True(RedirectLocation.TryCreate(url, out var location));
        Assert.Equal(url, location);
    }

    [Fact]
    public void Unicode_spaces_and_controls_are_percent_encoded_as_utf8_and_nothing_else_changes()
    {
        Assert.True(RedirectLocation.TryCreate("https://例え.jp/パス?q=ü 1&e=😀#straße", out var location));

        Assert.Equal("https://%E4%BE%8B%E3%81%88.jp/%E3%83%91%E3%82%B9?q=%C3%BC%201&e=%F0%9F%98%80#stra%C3%9Fe", location);
        Assert.True(RedirectLocation.TryCreate("https://example.com/a\r\nSet-Cookie: x=1", out var injected));
        Assert.Equal("https://example.com/a%0D%0ASet-Cookie:%20x=1", injected);
    }

    [Theory]
    [InlineData("javascript:alert(1)")]
    [InlineData("data:text/html,<script>alert(1)</script>")]
    [InlineData("file:///etc/passwd")]
    [InlineData("ftp://example.com/")]
    [InlineData(" https://example.com/")]
    [InlineData("https://")]
    [InlineData("/relative/path")]
    public void Anything_but_an_absolute_http_or_https_url_is_refused(string url) =>
        Assert.False(RedirectLocation.TryCreate(url, out _));
}
