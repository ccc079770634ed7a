using ManycoreMail.Delivery;

namespace ManycoreMail.Delivery.Tests;

public sealed class SiteRateLimiterTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Lets_exactly_the_limit_through_per_window_and_says_when_the_next_slot_frees()
    {
        var limiter = new SiteRateLimiter(SiteLimits.Default with { MessagesPerHour = 3 });

        var granted = Enumerable.Range(0, 10).Count(i => limiter.TryAcquire(Start + TimeSpan.FromMinutes(i)) == TimeSpan.Zero);

        Assert.Equal(3, granted);
        // The first delivery was at minute 0, so a slot frees at minute 60.
        Assert.Equal(TimeSpan.FromMinutes(50), limiter.TryAcquire(Start + TimeSpan.FromMinutes(10)));
        Assert.Equal(TimeSpan.Zero, limiter.TryAcquire(Start + TimeSpan.FromMinutes(60)));
    }

    [Fact]
    public void The_smallest_of_several_windows_wins()
    {
        var limiter = new SiteRateLimiter(SiteLimits.Default with { MessagesPerSecond = 100, MessagesPerMinute = 2 });

        Assert.Equal(TimeSpan.Zero, limiter.TryAcquire(Start));
        Assert.Equal(TimeSpan.Zero, limiter.TryAcquire(Start + TimeSpan.FromSeconds(1)));
        Assert.Equal(TimeSpan.FromSeconds(58), limiter.TryAcquire(Start + TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public void Delay_between_deliveries_spaces_them_like_postfix_rate_delay()
    {
        var limiter = new SiteRateLimiter(SiteLimits.Default with { DelayBetweenDeliveries = TimeSpan.FromSeconds(5) });

        Assert.Equal(TimeSpan.Zero, limiter.TryAcquire(Start));
        Assert.Equal(TimeSpan.FromSeconds(3), limiter.TryAcquire(Start + TimeSpan.FromSeconds(2)));
        Assert.Equal(TimeSpan.Zero, limiter.TryAcquire(Start + TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void Without_limits_everything_passes()
    {
        var limiter = new SiteRateLimiter(SiteLimits.Default);

        Assert.All(Enumerable.Range(0, 1000), _ => Assert.Equal(TimeSpan.Zero, limiter.TryAcquire(Start)));
    }
}
