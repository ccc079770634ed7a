using ManycoreMail.Events;

namespace ManycoreMail.Tests;

public sealed class EventTimeTests
{
    [Theory]
    [InlineData("1700000000", 1700000000)]
    [InlineData("0", 0)]
    [InlineData("2023-11-14T22:13:20Z", 1700000000)]
    [InlineData("2023-11-14T23:13:20+01:00", 1700000000)]
    [InlineData("2023-11-14T22:13:20", 1700000000)]
    [InlineData("2023-11-14", 1699920000)]
    public void Unix_seconds_and_iso_8601_are_read_without_an_offset_as_utc(string text, long seconds)
    {
        Assert.True(EventTime.TryParse(text, out var time));
        Assert.Equal(seconds, time.ToUnixTimeSeconds());
    }

    [Theory]
    [InlineData("")]
    [InlineData("yesterday")]
    [InlineData("12:00")]
    [InlineData("-5")]
    [InlineData("99999999999999999999")]
    [InlineData("1.5")]
    public void Anything_else_is_refused(string text) => Assert.False(EventTime.TryParse(text, out _));
}
