using ManycoreMail.Roles.Sender;

namespace ManycoreMail.Tests.Sender;

public sealed class ScheduledQueueNameTests
{
    [Theory]
    [InlineData("spring", "acme", "gmail.com", "spring:acme@gmail.com")]
    [InlineData("spring", null, "gmail.com", "spring:gmail.com")]
    [InlineData(null, "acme", "gmail.com", "acme@gmail.com")]
    [InlineData(null, "", "gmail.com", "gmail.com")]
    public void Drops_unset_parts_as_kumomta_does(string? campaign, string? tenant, string domain, string expected) =>
        Assert.Equal(expected, ScheduledQueueName.Of(campaign, tenant, domain));

    [Theory]
    [InlineData("spring:*", "spring:acme@gmail.com", true)]
    [InlineData("spring:*", "autumn:acme@gmail.com", false)]
    [InlineData("acme@gmail.com", "ACME@gmail.com", true)]
    public void Queue_lifetime_patterns_match_exactly_or_by_prefix(string pattern, string queue, bool matches) =>
        Assert.Equal(matches, new QueueLifetime(pattern, TimeSpan.FromDays(1)).Matches(queue));
}
