namespace ManycoreMail.Tracking.Tests;

public sealed class TrackingUrlsTests
{
    private const string Uuid = "0f3a9c2b7d4e4c1e";
    private readonly TrackingTokenCodec _codec = TestKeys.Codec(TestKeys.Current);

    [Fact]
    public void Each_kind_has_its_own_path_and_comes_back()
    {
        var urls = new TrackingUrls("https://t.example.com", _codec);
        var open = TrackingToken.Open(Uuid, "Jürgen@example.com");
        var click = TrackingToken.Click(Uuid, "Jürgen@example.com", "https://shop.example/?a=1&b=%2F#top");
        var unsubscribe = TrackingToken.Unsubscribe(Uuid, "Jürgen@example.com");

        Assert.Equal($"https://t.example.com/o/{_codec.Sign(open)}.gif", urls.For(open));
        Assert.Equal($"https://t.example.com/c/{_codec.Sign(click)}", urls.For(click));
        Assert.Equal($"https://t.example.com/u/{_codec.Sign(unsubscribe)}", urls.For(unsubscribe));

        foreach (var token in new[] { open, click, unsubscribe })
        {
            var path = new Uri(urls.For(token)).AbsolutePath;
            Assert.True(urls.TryParsePath(path, out var back), path);
            Assert.Equal(token, back);
        }
    }

    [Fact]
    public void A_token_under_another_kinds_prefix_is_refused()
    {
        var urls = new TrackingUrls("https://t.example.com", _codec);
        var open = _codec.Sign(TrackingToken.Open(Uuid, "a@example.com"));
        var click = _codec.Sign(TrackingToken.Click(Uuid, "a@example.com", "https://x.example/"));
        var unsubscribe = _codec.Sign(TrackingToken.Unsubscribe(Uuid, "a@example.com"));

        Assert.True(urls.TryParsePath($"/o/{open}.gif", out _));
        Assert.False(urls.TryParsePath($"/c/{open}", out _));
        Assert.False(urls.TryParsePath($"/u/{open}", out _));
        Assert.False(urls.TryParsePath($"/o/{click}.gif", out _));
        Assert.False(urls.TryParsePath($"/u/{click}", out _));
        Assert.False(urls.TryParsePath($"/o/{unsubscribe}.gif", out _));
        Assert.False(urls.TryParsePath($"/c/{unsubscribe}", out var back));
        Assert.Null(back);
    }

    [Theory]
    [InlineData("")]
    [InlineData("/")]
    [InlineData("/o/")]
    [InlineData("/o/.gif")]
    [InlineData("/x/TOKEN")]
    [InlineData("/o/TOKEN")]
    [InlineData("/o/TOKEN.gif/")]
    [InlineData("/c/TOKEN/")]
    [InlineData("/c/TOKEN?x=1")]
    [InlineData("//c/TOKEN")]
    [InlineData("/C/TOKEN")]
    [InlineData("c/TOKEN")]
    public void Other_paths_are_refused(string pattern)
    {
        var urls = new TrackingUrls("https://t.example.com", _codec);
        var token = _codec.Sign(TrackingToken.Open(Uuid, "a@example.com"));
        var click = _codec.Sign(TrackingToken.Click(Uuid, "a@example.com", "https://x.example/"));
        var path = pattern.Replace("TOKEN", pattern.Contains("/c/", StringComparison.Ordinal) || pattern.Contains("/C/", StringComparison.Ordinal) ? click : token, StringComparison.Ordinal);
        Assert.False(urls.TryParsePath(path, out _), path);
    }

    [Fact]
    public void A_base_path_is_kept_and_accepted_with_or_without_it()
    {
        var urls = new TrackingUrls("https://example.com/track/", _codec);
        Assert.Equal("https://example.com/track", urls.BaseUrl);
        var token = TrackingToken.Unsubscribe(Uuid, "a@example.com");
        var url = urls.For(token);
        Assert.StartsWith("https://example.com/track/u/", url, StringComparison.Ordinal);

        var path = new Uri(url).AbsolutePath;
        Assert.True(urls.TryParsePath(path, out var back));
        Assert.Equal(token, back);
        // Behind a proxy that strips the prefix.
        Assert.True(urls.TryParsePath(path.AsSpan("/track".Length), out back));
        Assert.Equal(token, back);
        // A prefix that only starts like the base path is not it.
        Assert.False(urls.TryParsePath("/trackx" + path["/track".Length..], out _));
    }

    [Theory]
    [InlineData("t.example.com")]
    [InlineData("/relative")]
    [InlineData("ftp://t.example.com")]
    [InlineData("javascript:alert(1)")]
    [InlineData("https://t.example.com/?x=1")]
    [InlineData("https://t.example.com/#x")]
    [InlineData("https://t.example.com/?")]
    [InlineData("https://user:pass@t.example.com/")]
    public void A_base_url_that_cannot_take_a_token_path_is_refused(string baseUrl)
    {
        var e = Assert.Throws<ArgumentException>(() => new TrackingUrls(baseUrl, _codec));
        Assert.Equal("baseUrl", e.ParamName);
    }

    [Fact]
    public void A_link_too_long_to_track_is_reported_not_thrown()
    {
        var urls = new TrackingUrls("http://t.example.com:8081", _codec);
        var token = TrackingToken.Click(Uuid, "a@example.com", "https://example.com/?q=" + new string('x', 4000));
        Assert.False(urls.TryFor(token, out var url));
        Assert.Null(url);
        Assert.Throws<ArgumentException>(() => urls.For(token));

        var fits = TrackingToken.Click(Uuid, "a@example.com", "https://example.com/?q=x");
        Assert.True(urls.TryFor(fits, out url));
        Assert.StartsWith("http://t.example.com:8081/c/", url, StringComparison.Ordinal);
    }
}
