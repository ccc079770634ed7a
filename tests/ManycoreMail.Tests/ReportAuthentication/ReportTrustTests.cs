using System.Text;
using ManycoreMail.Dkim;
using ManycoreMail.Dns.Spf;
using ManycoreMail.ReportAuthentication;

namespace ManycoreMail.Tests.ReportAuthentication;

/// <summary>Which reports are believed: the returned headers of a bounce, the feedback loops and DMARC alignment of a
/// complaint, the From alignment of an unsubscribe mail.</summary>
public sealed class ReportTrustTests
{
    private static readonly PublicSuffixList Suffixes = PublicSuffixList.Parse(["com", "uk", "co.uk", "test"]);
    private static readonly ReportTrust Trust = new(["isp.com"], Suffixes);

    private static SenderAuthentication Sender(SpfResult spf, string spfDomain, params (DkimResult Result, string Domain)[] dkim) =>
        new(new SpfVerdict(spf, spfDomain, "test"), dkim.Select(d => new DkimVerificationResult(d.Result, d.Domain, "s", "test")).ToArray());

    [Fact]
    public void A_complaint_signed_by_a_feedback_loop_or_a_subdomain_of_it_is_believed()
    {
        Assert.True(Trust.Complaint(Sender(SpfResult.None, "mta.other.com", (DkimResult.Pass, "fbl.isp.com")), "stranger.com"));
        Assert.True(Trust.Complaint(Sender(SpfResult.Pass, "isp.com"), "stranger.com"));
        // Not a subdomain, only a name that ends the same.
        Assert.False(Trust.Complaint(Sender(SpfResult.None, "x.com", (DkimResult.Pass, "notisp.com")), "stranger.com"));
        Assert.False(Trust.Complaint(Sender(SpfResult.Fail, "isp.com", (DkimResult.Fail, "isp.com")), "isp.com"));
    }

    [Fact]
    public void Dmarc_alignment_is_relaxed_to_the_organizational_domain()
    {
        Assert.True(Trust.Complaint(Sender(SpfResult.Pass, "bounces.mail.example.co.uk"), "example.co.uk"));
        Assert.True(Trust.FromAligned(Sender(SpfResult.None, "x.com", (DkimResult.Pass, "example.co.uk")), "news.example.co.uk"));
        // Same public suffix, different organizations.
        Assert.False(Trust.FromAligned(Sender(SpfResult.Pass, "other.co.uk", (DkimResult.Pass, "other.co.uk")), "example.co.uk"));
        Assert.False(Trust.FromAligned(Sender(SpfResult.Pass, "example.co.uk"), null));
    }

    [Fact]
    public void Rsa_sha1_and_testing_keys_do_not_count_as_a_pass()
    {
        var weak = new SenderAuthentication(new SpfVerdict(SpfResult.None, "x.com", "t"),
            [new DkimVerificationResult(DkimResult.Policy, "example.com", "s", "sha1", IsWeak: true), new DkimVerificationResult(DkimResult.Pass, "example.com", "s", "t", IsTesting: true)]);

        Assert.False(weak.AnyPass);
        Assert.False(Trust.FromAligned(weak, "example.com"));
    }

    [Fact]
    public void A_bounce_needs_a_pass_and_returned_headers_that_agree_with_the_verp_address_and_the_recipient()
    {
        var pass = Sender(SpfResult.Pass, "mta.bouncer.com");
        var returned = new ReturnedHeaders("c0ffee", new HashSet<string> { "gone@ok.com" });

        Assert.True(Trust.Bounce(pass, "c0ffee", returned, "Gone@OK.com"));
        Assert.True(Trust.Bounce(pass, "c0ffee", null, "gone@ok.com"));
        Assert.False(Trust.Bounce(pass, "decaf", returned, "gone@ok.com"));
        Assert.False(Trust.Bounce(pass, "c0ffee", returned, "other@ok.com"));
        Assert.False(Trust.Bounce(Sender(SpfResult.Fail, "mta.bouncer.com"), "c0ffee", returned, "gone@ok.com"));
        Assert.False(Trust.Bounce(Sender(SpfResult.TempError, "mta.bouncer.com", (DkimResult.TempError, "bouncer.com")), "c0ffee", null, "gone@ok.com"));
    }

    [Theory]
    [InlineData("From: Reader <reader@Example.COM>\r\n\r\nx\r\n", "example.com")]
    [InlineData("From: a@one.com, b@two.com\r\n\r\nx\r\n", null)]
    [InlineData("From: a@one.com\r\nFrom: b@two.com\r\n\r\nx\r\n", null)]
    [InlineData("Subject: none\r\n\r\nx\r\n", null)]
    public void The_author_domain_is_that_of_a_single_from_address(string message, string? domain) =>
        Assert.Equal(domain, ReportTrust.AuthorDomain(Encoding.ASCII.GetBytes(message)));
}
