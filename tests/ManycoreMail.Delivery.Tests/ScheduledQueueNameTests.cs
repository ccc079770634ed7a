using ManycoreMail.Delivery;

namespace ManycoreMail.Delivery.Tests;

public sealed class ScheduledQueueNameTests
{
    [Theory]
    [InlineData("spring", "acme", "gmail.com", "spring:acme@gmail.com")]
    [InlineData("spring", null, "gmail.com", "spring:gmail.com")]
    [InlineData(null, "acme", "gmail.com", "acme@gmail.com")]
    [InlineData(null, "", "gmail.com", "gmail.com")]
    [InlineData("spring sale:a@b", "acme", "gmail.com", "spring_sale_a_b:acme@gmail.com")]
    public void Drops_unset_parts_as_kumomta_does(string? campaign, string? tenant, string domain, string expected) =>
        Assert.Equal(expected, ScheduledQueueName.Of(campaign, tenant, domain));

    [Theory]
    [InlineData("spring:*", "spring:acme@gmail.com", true)]
    [InlineData("spring:*", "autumn:acme@gmail.com", false)]
    [InlineData("acme@gmail.com", "ACME@gmail.com", true)]
    public void Queue_lifetime_patterns_match_exactly_or_by_prefix(string pattern, string queue, bool matches) =>
        Assert.Equal(matches, new QueueLifetime(pattern, TimeSpan.FromDays(1)).Matches(queue));

    [Theory]
    [InlineData("spring:acme@gmail.com", "spring", "acme", "gmail.com")]
    [InlineData("spring:gmail.com", "spring", null, "gmail.com")]
    [InlineData("acme@gmail.com", null, "acme", "gmail.com")]
    [InlineData("gmail.com", null, null, "gmail.com")]
    public void Names_split_back_into_their_parts(string queue, string? campaign, string? tenant, string domain) =>
        Assert.Equal((campaign, tenant, domain), ScheduledQueueName.Parts(queue));

    [Theory]
    [InlineData("*:acme@*", "spring:acme@gmail.com", true)]
    [InlineData("*:acme@*", "acme@gmail.com", true)]
    [InlineData("*:acme@*", "spring:other@gmail.com", false)]
    [InlineData("*:acme@*", "spring:gmail.com", false)]
    [InlineData("*:acme@*", "xacme@gmail.com", false)]
    [InlineData("spring:*@*", "spring:acme@gmail.com", true)]
    [InlineData("spring:*@*", "spring:gmail.com", true)]
    [InlineData("spring:*@*", "autumn:acme@gmail.com", false)]
    [InlineData("*:*@gmail.com", "acme@GMAIL.com", true)]
    [InlineData("*:*@gmail.com", "spring:acme@yahoo.com", false)]
    public void Patterns_with_a_star_inside_match_part_by_part(string pattern, string queue, bool matches) =>
        Assert.Equal(matches, ScheduledQueueName.Matches(pattern, queue));

    [Theory]
    [InlineData(null, "acme", "*:acme@*")]
    [InlineData("spring", "acme", "spring:acme@*")]
    [InlineData("spring", null, "spring:*@*")]
    public void A_tenant_or_campaign_becomes_the_pattern_of_its_queues(string? campaign, string? tenant, string pattern) =>
        Assert.Equal(pattern, ScheduledQueueName.PatternFor(campaign, tenant));

    [Theory]
    [InlineData("spring:acme@gmail.com", "acme", null, true)]
    [InlineData("spring:acme@gmail.com", "ACME", "spring", true)]
    [InlineData("spring:acme@gmail.com", null, "autumn", false)]
    [InlineData("acme@gmail.com", "other", null, false)]
    [InlineData("gmail.com", null, null, true)]
    public void A_queue_belongs_to_its_tenant_and_campaign(string queue, string? tenant, string? campaign, bool belongs) =>
        Assert.Equal(belongs, ScheduledQueueName.Belongs(queue, tenant, campaign));

    [Fact]
    public void Queue_lifetimes_take_tenant_patterns_too() =>
        Assert.True(new QueueLifetime("*:acme@*", TimeSpan.FromDays(1)).Matches("spring:acme@gmail.com"));
}
