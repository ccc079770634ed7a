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

    [Theory]
    [InlineData("acme")]
    [InlineData("Acme.Corp_2-eu")]
    [InlineData("a")]
    public void A_tenant_of_the_send_apis_characters_is_carried(string tenant) =>
        Assert.Equal(tenant, (TrackingToken.Open("abc", "a@example.com") with { Tenant = tenant }).Tenant);

    [Theory]
    [InlineData("acme corp")]
    [InlineData("acme/eu")]
    [InlineData("acmé")]
    [InlineData("acme:eu")]
    public void A_tenant_outside_the_send_apis_characters_is_refused(string tenant)
    {
        var e = Assert.Throws<ArgumentException>(() => TrackingToken.Open("abc", "a@example.com") with { Tenant = tenant });
        Assert.Equal("Tenant", e.ParamName);
        Assert.False(TrackingToken.IsValidTenant(tenant));
    }

    [Fact]
    public void A_tenant_is_at_most_64_characters_and_empty_is_none()
    {
        var open = TrackingToken.Open("abc", "a@example.com");
        Assert.Equal(64, (open with { Tenant = new string('t', 64) }).Tenant!.Length);
        Assert.Throws<ArgumentException>(() => open with { Tenant = new string('t', 65) });
        Assert.Null((open with { Tenant = "" }).Tenant);
        Assert.Null(open.Tenant);
    }

    [Fact]
    public void A_campaign_is_at_most_255_utf8_bytes_and_empty_is_none()
    {
        var click = TrackingToken.Click("abc", "a@example.com", "https://x.example/");
        Assert.Equal(255, (click with { Campaign = new string('c', 255) }).Campaign!.Length);
        Assert.Throws<ArgumentException>(() => click with { Campaign = new string('c', 256) });
        // 127 two-byte characters and one byte fit; one more byte does not, whatever the character count.
        var multibyte = new string('é', 127) + "c";
        Assert.Equal(multibyte, (click with { Campaign = multibyte }).Campaign);
        Assert.Equal("Campaign", Assert.Throws<ArgumentException>(() => click with { Campaign = multibyte + "c" }).ParamName);
        Assert.False(TrackingToken.IsValidCampaign(string.Concat(Enumerable.Repeat("😀", 64))));
        Assert.True(TrackingToken.IsValidCampaign(string.Concat(Enumerable.Repeat("😀", 63)) + "abc"));
        Assert.Null((click with { Campaign = "" }).Campaign);
        Assert.Null(click.Campaign);
    }

    [Fact]
    public void A_campaign_with_a_lone_surrogate_is_refused()
    {
        Assert.Throws<ArgumentException>(() => TrackingToken.Unsubscribe("abc", "a@example.com") with { Campaign = "spring\uD800" });
        Assert.Equal("spring 😀 sale", (TrackingToken.Unsubscribe("abc", "a@example.com") with { Campaign = "spring 😀 sale" }).Campaign);
    }
}
