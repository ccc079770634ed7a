namespace ManycoreMail.Tracking.Tests;

public sealed class TrackingTokenTests
{
    [Theory]
    [InlineData("")]
    [InlineData("ABC123")]
    [InlineData("abc-123")]
    [InlineData("abc 123")]
    [InlineData("abcé")]
    public void A_uuid_outside_lowercase_letters_and_digits_is_refused(string uuid)
    {
        var e = Assert.Throws<ArgumentException>(() => TrackingToken.Open(uuid, "a@example.com"));
        Assert.Equal("uuid", e.ParamName);
    }

    [Fact]
    public void A_uuid_is_at_most_255_characters()
    {
        Assert.Equal(255, TrackingToken.Unsubscribe(new string('a', 255), "a@example.com").MessageUuid.Length);
        Assert.Throws<ArgumentException>(() => TrackingToken.Unsubscribe(new string('a', 256), "a@example.com"));
    }

    [Fact]
    public void An_empty_recipient_or_url_is_refused()
    {
        Assert.Throws<ArgumentException>(() => TrackingToken.Open("abc", ""));
        Assert.Throws<ArgumentException>(() => TrackingToken.Click("abc", "a@example.com", ""));
        Assert.Throws<ArgumentNullException>(() => TrackingToken.Click("abc", "a@example.com", null!));
    }

    [Fact]
    public void Text_with_a_lone_surrogate_is_refused_since_it_could_not_come_back_unchanged()
    {
        Assert.Equal("recipient", Assert.Throws<ArgumentException>(() => TrackingToken.Open("abc", "a\uDC00@example.com")).ParamName);
        Assert.Equal("url", Assert.Throws<ArgumentException>(() => TrackingToken.Click("abc", "a@example.com", "https://x/\uD800")).ParamName);
        // A real pair and a real replacement character are fine.
        Assert.Equal("😀\uFFFD@example.com", TrackingToken.Open("abc", "😀\uFFFD@example.com").Recipient);
    }

    [Fact]
    public void Only_a_click_carries_a_url()
    {
        Assert.Null(TrackingToken.Open("abc", "a@example.com").Url);
        Assert.Null(TrackingToken.Unsubscribe("abc", "a@example.com").Url);
        Assert.Equal("https://x/", TrackingToken.Click("abc", "a@example.com", "https://x/").Url);
    }
}
