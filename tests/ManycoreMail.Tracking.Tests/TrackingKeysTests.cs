namespace ManycoreMail.Tracking.Tests;

public sealed class TrackingKeysTests
{
    [Fact]
    public void No_secret_is_refused()
    {
        var e = Assert.Throws<TrackingKeyException>(() => new TrackingKeys([]));
        Assert.Contains("No tracking secret", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_secret_is_refused_by_position()
    {
        var e = Assert.Throws<TrackingKeyException>(() => new TrackingKeys([TestKeys.Current, ""]));
        Assert.Equal("Tracking secret 2 is empty.", e.Message);
    }

    [Fact]
    public void A_short_secret_is_refused_without_printing_it()
    {
        const string Short = "fifteen bytes!!";
        var e = Assert.Throws<TrackingKeyException>(() => new TrackingKeys([Short]));
        Assert.Contains("Tracking secret 1 is 15 bytes long; at least 16", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Short, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Secret_length_is_counted_in_utf8_bytes()
    {
        // Eight two-byte letters are sixteen bytes, though only eight characters.
        Assert.Equal(1, new TrackingKeys(["éééééééé"]).Count);
        Assert.Throws<TrackingKeyException>(() => new TrackingKeys(["ééééééé"]));
    }

    [Fact]
    public void A_secret_with_a_lone_surrogate_is_refused()
    {
        var e = Assert.Throws<TrackingKeyException>(() => new TrackingKeys(["0123456789abcdef\uD800"]));
        Assert.Equal("Tracking secret 1 is not valid Unicode text.", e.Message);
    }

    [Fact]
    public void A_repeated_secret_is_refused()
    {
        var e = Assert.Throws<TrackingKeyException>(() => new TrackingKeys([TestKeys.Current, TestKeys.Previous, TestKeys.Current]));
        Assert.Equal("Tracking secrets 1 and 3 are the same.", e.Message);
        Assert.DoesNotContain(TestKeys.Current, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_secret_counts_and_none_is_printed()
    {
        var keys = new TrackingKeys([TestKeys.Current, TestKeys.Previous]);
        Assert.Equal(2, keys.Count);
        Assert.DoesNotContain(TestKeys.Current, keys.ToString(), StringComparison.Ordinal);
    }
}
