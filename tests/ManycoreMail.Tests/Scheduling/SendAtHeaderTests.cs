using System.Text;
using ManycoreMail.Ingress;
using ManycoreMail.Mime;

namespace ManycoreMail.Tests.Scheduling;

public sealed class SendAtHeaderTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    /// <summary>The header block of a message with <paramref name="sendAt"/> (none when null), parsed as the door parses it.</summary>
    private static MessageHeaders Message(string? sendAt, string extra = "") => Parsed(
        "From: a@example.com\r\nTo: b@example.net\r\nX-Uuid: abc\r\n" + extra +
        (sendAt is null ? "" : $"X-Send-At: {sendAt}\r\n") + "Subject: hi\r\n\r\nX-Send-At: not a header, the body\r\n");

    private static MessageHeaders Parsed(string message)
    {
        Assert.True(MessageHeaders.TryParse(Encoding.ASCII.GetBytes(message), out var headers, out var error), error);
        return headers;
    }

    [Theory]
    [InlineData("2026-12-24T09:00:00Z", "2026-12-24T09:00:00+00:00")]
    [InlineData("2026-12-24t09:00:00z", "2026-12-24T09:00:00+00:00")]
    [InlineData("2026-12-24T09:00:00+01:00", "2026-12-24T08:00:00+00:00")]
    [InlineData("2026-12-24T09:00:00-05:30", "2026-12-24T14:30:00+00:00")]
    [InlineData("2026-12-24 09:00:00.250Z", "2026-12-24T09:00:00.25+00:00")]
    [InlineData("Thu, 24 Dec 2026 09:00:00 +0100", "2026-12-24T08:00:00+00:00")]
    [InlineData("24 Dec 2026 09:00 -0800", "2026-12-24T17:00:00+00:00")]
    [InlineData("Thu, 24 Dec 2026 09:00:00 GMT", "2026-12-24T09:00:00+00:00")]
    [InlineData("Thu, 24 Dec 2026 09:00:00 EST", "2026-12-24T14:00:00+00:00")]
    [InlineData("Thu, 24 Dec 2026 09:00:00 +0000 (UTC)", "2026-12-24T09:00:00+00:00")]
    [InlineData("Thu, 24 Dec 26 09:00:00 +0000", "2026-12-24T09:00:00+00:00")]
    public void Reads_rfc3339_and_rfc5322_dates_with_their_offsets(string value, string expected)
    {
        Assert.True(SendAtHeader.TryParse(value, out var parsed));
        Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), parsed);
    }

    [Theory]
    [InlineData("tomorrow")]
    [InlineData("2026-12-24")]
    [InlineData("2026-12-24T09:00:00")]
    [InlineData("2026-13-24T09:00:00Z")]
    [InlineData("2026-02-30T09:00:00Z")]
    [InlineData("2026-12-24T25:00:00Z")]
    [InlineData("2026-12-24T09:00:00+01")]
    [InlineData("Thu, 24 Foo 2026 09:00:00 +0100")]
    [InlineData("Thu, 24 Dec 2026 09:00:00 +0175")]
    [InlineData("Thu, 24 Dec 2026 09:00:00 Q")]
    [InlineData("Thu, 24 Dec 2026 09:00:00")]
    [InlineData("1796108400")]
    public void Refuses_anything_else(string value) => Assert.False(SendAtHeader.TryParse(value, out _));

    [Fact]
    public void A_message_without_the_header_is_sent_as_usual() =>
        Assert.True(SendAtHeader.TryRead(Message(null), Now, out var holdUntil, out _) && holdUntil is null);

    [Fact]
    public void A_future_time_holds_the_message_until_then()
    {
        Assert.True(SendAtHeader.TryRead(Message("2026-12-07T12:00:00+02:00"), Now, out var holdUntil, out _));
        Assert.Equal(new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero), holdUntil);
    }

    [Fact]
    public void The_header_is_found_in_any_case_and_folded() =>
        Assert.True(SendAtHeader.TryRead(Parsed("x-send-AT:\r\n 2026-12-07T12:00:00Z\r\nTo: b@example.net\r\n\r\n"), Now, out var holdUntil, out _)
            && holdUntil == new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));

    [Theory]
    [InlineData("2026-12-06T12:00:00Z")]
    [InlineData("2020-01-01T00:00:00Z")]
    public void Now_or_past_is_sent_as_usual(string value) =>
        Assert.True(SendAtHeader.TryRead(Message(value), Now, out var holdUntil, out _) && holdUntil is null);

    [Fact]
    public void Thirty_days_ahead_is_held_and_more_is_refused_naming_the_header()
    {
        Assert.True(SendAtHeader.TryRead(Message("2027-01-05T12:00:00Z"), Now, out var holdUntil, out _));
        Assert.NotNull(holdUntil);
        Assert.False(SendAtHeader.TryRead(Message("2027-01-05T12:00:01Z"), Now, out _, out var refusal));
        Assert.Contains("X-Send-At", refusal.Message);
        Assert.Contains("30 days", refusal.Message);
        Assert.Equal((554, "5.6.0"), (refusal.SmtpCode, refusal.EnhancedStatus));
    }

    [Fact]
    public void Garbage_is_refused_with_5_6_0_naming_the_header()
    {
        Assert.False(SendAtHeader.TryRead(Message("next tuesday"), Now, out _, out var refusal));
        Assert.Equal((554, "5.6.0"), (refusal.SmtpCode, refusal.EnhancedStatus));
        Assert.StartsWith("Malformed header X-Send-At", refusal.Message);
    }

    [Fact]
    public void Two_different_times_are_refused() =>
        Assert.False(SendAtHeader.TryRead(Message("2026-12-07T12:00:00Z", "X-Send-At: 2026-12-08T12:00:00Z\r\n"), Now, out _, out _));
}
