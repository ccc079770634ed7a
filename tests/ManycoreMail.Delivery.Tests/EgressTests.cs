using System.Net;
using ManycoreMail.Smtp;
using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.Delivery.Tests;

public sealed class EgressTests
{
    private static readonly EgressSource A = new("a", IPAddress.Parse("192.0.2.10"), "a.example", Weight: 3);
    private static readonly EgressSource B = new("b", IPAddress.Parse("192.0.2.11"), "b.example", Weight: 1);

    [Fact]
    public void Smooth_weighted_round_robin_gives_each_source_its_exact_share_spread_out()
    {
        var rotation = new WeightedRotation([A, B]);

        var picks = Enumerable.Range(0, 8).Select(_ => rotation.Next(_ => true)!.Name).ToArray();

        Assert.Equal(["a", "a", "b", "a", "a", "a", "b", "a"], picks);
    }

    [Fact]
    public void A_source_left_out_of_a_pick_gives_its_share_to_the_others()
    {
        var rotation = new WeightedRotation([A, B]);

        var picks = Enumerable.Range(0, 4).Select(_ => rotation.Next(s => s != A)?.Name).ToArray();

        Assert.All(picks, p => Assert.Equal("b", p));
        Assert.Null(rotation.Next(_ => false));
    }

    [Fact]
    public void A_warm_up_cap_is_that_of_the_last_step_reached_and_ends_after_the_last_day()
    {
        var schedule = new WarmUpSchedule(new DateOnly(2026, 12, 1), [new WarmUpStep(1, 200), new WarmUpStep(3, 400)]);

        Assert.Equal(200, schedule.CapOn(new DateOnly(2026, 11, 30)));
        Assert.Equal(200, schedule.CapOn(new DateOnly(2026, 12, 1)));
        Assert.Equal(200, schedule.CapOn(new DateOnly(2026, 12, 2)));
        Assert.Equal(400, schedule.CapOn(new DateOnly(2026, 12, 3)));
        Assert.Null(schedule.CapOn(new DateOnly(2026, 12, 4)));
    }

    [Fact]
    public async Task A_capped_source_overflows_to_the_others_and_when_none_is_left_the_recipients_wait_for_the_next_day()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 15, 0, 0, TimeSpan.Zero));
        var warming = A with { WarmUp = new WarmUpSchedule(new DateOnly(2026, 12, 1), [new WarmUpStep(1, 2), new WarmUpStep(2, 3)]) };
        var pool = new EgressPool("p", [warming]);
        var selection = new PoolSelection(new EgressOptions([pool], [], "p"), new WarmUpLedger(new InMemoryWarmUpStore(), time), time);

        Assert.Same(warming, (await selection.ChooseAsync(pool, "gmail", 1, CancellationToken.None)).Source);
        Assert.Same(warming, (await selection.ChooseAsync(pool, "gmail", 1, CancellationToken.None)).Source);
        var waiting = await selection.ChooseAsync(pool, "gmail", 1, CancellationToken.None);
        var other = await selection.ChooseAsync(pool, "yahoo", 1, CancellationToken.None);

        Assert.Null(waiting.Source);
        Assert.Equal(new DateTimeOffset(2026, 12, 2, 0, 0, 0, TimeSpan.Zero), waiting.WaitUntil);
        Assert.Contains("warm-up cap", waiting.Reason);
        Assert.Same(warming, other.Source);

        time.Advance(TimeSpan.FromHours(9));
        Assert.Same(warming, (await selection.ChooseAsync(pool, "gmail", 3, CancellationToken.None)).Source);
        Assert.Null((await selection.ChooseAsync(pool, "gmail", 1, CancellationToken.None)).Source);
    }

    [Fact]
    public void Pool_selection_takes_the_first_matching_rule_then_the_default()
    {
        var warm = new EgressPool("warm", [A]);
        var fresh = new EgressPool("fresh", [B]);
        var options = new EgressOptions([warm, fresh],
            [new PoolSelectionRule("fresh", Campaign: "spring"), new PoolSelectionRule("fresh", Tenant: "acme"), new PoolSelectionRule("warm", FromDomain: "example.com")], "warm");
        var selection = new PoolSelection(options, new WarmUpLedger(new InMemoryWarmUpStore(), TimeProvider.System), TimeProvider.System);

        Assert.Same(fresh, selection.PoolFor("spring:gmail.com", "b@example.com"));
        Assert.Same(fresh, selection.PoolFor("acme@gmail.com", "b@other.example"));
        Assert.Same(warm, selection.PoolFor("autumn:beta@gmail.com", "b@example.com"));
        Assert.Same(warm, selection.PoolFor("gmail.com", "b@other.example"));
    }

    [Theory]
    [InlineData("421", 421, null)]
    [InlineData("4.7.28", null, "4.7.28")]
    [InlineData("421 4.7.28", 421, "4.7.28")]
    public void A_rule_code_is_a_reply_code_an_enhanced_code_or_both(string text, int? code, string? enhanced)
    {
        Assert.Equal((code, enhanced), AdaptiveRule.ParseCode(text));
    }

    [Theory]
    [InlineData("42")]
    [InlineData("4.7")]
    [InlineData("421 421")]
    [InlineData("soon")]
    public void Anything_else_is_not_a_rule_code(string text) => Assert.Null(AdaptiveRule.ParseCode(text));

    [Fact]
    public void The_shipped_rules_match_the_documented_throttling_replies_of_their_provider_only()
    {
        var gmail = new SiteEgress(A, "gmail", ["aspmx.l.google.com"], null);
        var yahoo = new SiteEgress(A, "yahoo", ["mta5.am0.yahoodns.net"], null);
        var outlook = new SiteEgress(A, "outlook", ["example-com.mail.protection.outlook.com"], null);
        string? Rule(SiteEgress site, SmtpReply reply) => ShippedAdaptiveShaping.Rules.FirstOrDefault(r => r.Matches(site, "example.com", reply))?.Name;

        Assert.Equal("gmail-unusual-rate", Rule(gmail, new SmtpReply(421, "4.7.28", "Our system has detected an unusual rate of unsolicited mail")));
        Assert.Equal("gmail-receiving-rate", Rule(gmail, new SmtpReply(450, "4.2.1", "The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered.")));
        Assert.Equal("yahoo-tss04", Rule(yahoo, new SmtpReply(421, "4.7.0", "[TSS04] Messages from 192.0.2.10 temporarily deferred due to unexpected volume or user complaints")));
        Assert.Equal("yahoo-tss09", Rule(yahoo, new SmtpReply(421, "4.7.0", "[TSS09] All messages from 192.0.2.10 will be permanently deferred; Retrying will NOT succeed.")));
        Assert.Equal("outlook-ip-reputation", Rule(outlook, new SmtpReply(451, "4.7.650", "The mail server [192.0.2.10] has been temporarily rate limited due to IP reputation.")));
        Assert.Equal("outlook-traffic-refused", Rule(outlook, new SmtpReply(550, "5.7.708", "Service unavailable. Access denied, traffic not accepted from this IP.")));
        Assert.Null(Rule(yahoo, new SmtpReply(421, "4.7.28", "unusual rate")));
        Assert.Null(Rule(gmail, new SmtpReply(421, "4.7.0", "Try again later, closing connection.")));
    }

    [Fact]
    public void A_throttle_narrows_connections_and_rate_until_it_ends_and_clear_lifts_it()
    {
        var now = new DateTimeOffset(2026, 12, 1, 15, 0, 0, TimeSpan.Zero);
        var adaptation = new SiteAdaptation();
        adaptation.Throttle(new AdaptationView("r", "throttle", now.AddMinutes(30), "451"), new SiteLimits { MaxConnections = 1, MessagesPerMinute = 1 });

        Assert.Equal(1, adaptation.MaxConnections(10, now));
        Assert.Equal(TimeSpan.Zero, adaptation.TryAcquire(now));
        Assert.True(adaptation.TryAcquire(now.AddSeconds(1)) > TimeSpan.Zero);
        Assert.Equal(10, adaptation.MaxConnections(10, now.AddHours(1)));
        Assert.True(adaptation.Clear(now));
        Assert.Equal(10, adaptation.MaxConnections(10, now));
        Assert.False(adaptation.IsActive(now));
    }
}
