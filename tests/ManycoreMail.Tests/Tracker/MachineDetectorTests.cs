using System.Net;
using ManycoreMail.Roles.Tracker;
using ManycoreMail.Tracking;

namespace ManycoreMail.Tests.Tracker;

/// <summary>The documented rules that mark an open or click <c>"machine": true</c>, one at a time.</summary>
public sealed class MachineDetectorTests
{
    private const string Chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    private const string IPhoneMail = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
    private static readonly DateTimeOffset Sent = new(2026, 12, 6, 9, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset AnHourLater = Sent.AddHours(1);
    private static readonly IPAddress Home = IPAddress.Parse("203.0.113.7");

    [Theory]
    [InlineData(Chrome)]
    [InlineData(IPhoneMail)]
    [InlineData("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:128.0) Gecko/20100101 Thunderbird/128.5.0")]
    [InlineData("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)")]
    public void A_person_reading_an_hour_after_delivery_is_a_person(string agent)
    {
        var detector = new MachineDetector();

        Assert.Equal(MachineSignal.Person, detector.Classify(Hit(Open(), agent)));
        Assert.Equal(MachineSignal.Person, detector.Classify(Hit(Click("https://example.com/a"), agent)));
        Assert.False(detector.IsMachine(Hit(Open(), agent)));
    }

    [Fact]
    public void A_head_request_is_a_machine() =>
        Assert.Equal(MachineSignal.HeadRequest, new MachineDetector().Classify(Hit(Click("https://example.com/a"), Chrome) with { IsHead = true }));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void No_user_agent_is_a_machine(string? agent) =>
        Assert.Equal(MachineSignal.MissingUserAgent, new MachineDetector().Classify(Hit(Open(), agent)));

    [Fact]
    public void Apple_mail_privacy_protection_is_a_machine_by_its_bare_user_agent_or_by_apples_network()
    {
        var detector = new MachineDetector();

        Assert.Equal(MachineSignal.PrivacyProxy, detector.Classify(Hit(Open(), "Mozilla/5.0")));
        Assert.Equal(MachineSignal.PrivacyProxy, detector.Classify(Hit(Open(), IPhoneMail, IPAddress.Parse("17.58.63.12"))));
        Assert.Equal(MachineSignal.PrivacyProxy, detector.Classify(Hit(Open(), IPhoneMail, IPAddress.Parse("17.58.63.12").MapToIPv6())));
        // Next door to Apple's network, and a longer Mozilla/5.0 header, are people.
        Assert.Equal(MachineSignal.Person, detector.Classify(Hit(Open(), IPhoneMail, IPAddress.Parse("18.58.63.12"))));
        Assert.Equal(MachineSignal.Person, detector.Classify(Hit(Open(), IPhoneMail, IPAddress.Parse("2001:db8::17"))));
    }

    [Theory]
    [InlineData("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)")]
    [InlineData("Mozilla/5.0 (compatible; YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html)")]
    [InlineData("Mozilla/5.0 (compatible; Barracuda Sentinel)")]
    [InlineData("Mimecast URL Protect")]
    [InlineData("Mozilla/5.0 ProofPoint URL Defense")]
    [InlineData("Mozilla/4.0 (compatible; ms-office; MSOffice 16)")]
    [InlineData("python-requests/2.32.3")]
    [InlineData("curl/8.5.0")]
    [InlineData("Go-http-client/1.1")]
    [InlineData("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36")]
    [InlineData("Wget/1.21.4")]
    [InlineData("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)")]
    public void Proxies_scanners_and_http_libraries_are_machines_by_user_agent(string agent) =>
        Assert.Equal(MachineSignal.AutomatedAgent, new MachineDetector().Classify(Hit(Click("https://example.com/a"), agent)));

    [Fact]
    public void An_open_or_click_within_seconds_of_sending_is_a_machine()
    {
        var detector = new MachineDetector();

        Assert.Equal(MachineSignal.SoonAfterDelivery, detector.Classify(Hit(Open(), Chrome, at: Sent.AddSeconds(2))));
        Assert.Equal(MachineSignal.SoonAfterDelivery, detector.Classify(Hit(Click("https://example.com/a"), Chrome, at: Sent.AddSeconds(4))));
        // A tracker clock behind the transformer's: before it was sent is sooner still.
        Assert.Equal(MachineSignal.SoonAfterDelivery, detector.Classify(Hit(Open(), Chrome, at: Sent.AddSeconds(-30))));
        Assert.Equal(MachineSignal.Person, detector.Classify(Hit(Open(), Chrome, at: Sent.AddSeconds(6))));
    }

    [Fact]
    public void Different_links_of_one_message_and_recipient_followed_within_two_seconds_are_a_machine()
    {
        var detector = new MachineDetector();

        Assert.Equal(MachineSignal.Person, detector.Classify(Hit(Click("https://example.com/a"), Chrome, at: AnHourLater)));
        Assert.Equal(MachineSignal.LinkBurst, detector.Classify(Hit(Click("https://example.com/b"), Chrome, at: AnHourLater.AddSeconds(1))));
        Assert.Equal(MachineSignal.LinkBurst, detector.Classify(Hit(Click("https://example.com/c"), Chrome, at: AnHourLater.AddSeconds(2.5))));
        // Later, and the same link twice (a double click), are a person's.
        Assert.Equal(MachineSignal.Person, detector.Classify(Hit(Click("https://example.com/d"), Chrome, at: AnHourLater.AddSeconds(10))));
        Assert.Equal(MachineSignal.Person, detector.Classify(Hit(Click("https://example.com/d"), Chrome, at: AnHourLater.AddSeconds(10.5))));
    }

    [Fact]
    public void Clicks_of_other_recipients_or_messages_are_no_burst()
    {
        var detector = new MachineDetector();

        Assert.Equal(MachineSignal.Person, detector.Classify(Hit(Click("https://example.com/a", recipient: "one@example.com"), Chrome)));
        Assert.Equal(MachineSignal.Person, detector.Classify(Hit(Click("https://example.com/b", recipient: "two@example.com"), Chrome)));
        Assert.Equal(MachineSignal.Person, detector.Classify(Hit(Click("https://example.com/c", uuid: "other1", recipient: "one@example.com"), Chrome)));
    }

    [Fact]
    public void The_burst_window_stays_within_its_capacity()
    {
        var window = new ClickBurstWindow(TimeSpan.FromSeconds(2), capacity: 3);

        for (var i = 0; i < 50; i++)
        {
            window.IsBurst("m1", $"r{i}@example.com", "https://example.com/a", AnHourLater.AddMilliseconds(i));
            Assert.InRange(window.Count, 1, 3);
        }
        // Old entries make room before anything recent is forgotten.
        window.IsBurst("m1", "late@example.com", "https://example.com/a", AnHourLater.AddMinutes(1));
        Assert.True(window.IsBurst("m1", "late@example.com", "https://example.com/b", AnHourLater.AddMinutes(1).AddSeconds(1)));
    }

    private static TrackingToken Open(string uuid = "msg1", string recipient = "reader@example.com") =>
        TrackingToken.Open(uuid, recipient) with { IssuedAt = Sent };

    private static TrackingToken Click(string url, string uuid = "msg1", string recipient = "reader@example.com") =>
        TrackingToken.Click(uuid, recipient, url) with { IssuedAt = Sent };

    private static TrackingHit Hit(TrackingToken token, string? agent, IPAddress? ip = null, DateTimeOffset? at = null) =>
        new(token, IsHead: false, ip ?? Home, agent, at ?? AnHourLater);
}
