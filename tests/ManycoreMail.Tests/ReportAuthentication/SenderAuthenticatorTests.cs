using System.Net;
using System.Text;
using ManycoreMail.Dkim;
using ManycoreMail.Dns.Spf;
using ManycoreMail.ReportAuthentication;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.Tests.ReportAuthentication;

/// <summary>SPF and DKIM of a report within one deadline: what has not answered by then is a temperror.</summary>
public sealed class SenderAuthenticatorTests
{
    private static readonly byte[] Mail = Encoding.ASCII.GetBytes(
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=AAAA; b=AAAA\r\nFrom: a@example.com\r\n\r\nbody\r\n");

    [Fact]
    public async Task An_spf_check_that_never_answers_is_a_temperror_once_the_deadline_passes()
    {
        var spf = new FixedSpf(null);
        var authenticator = new SenderAuthenticator(spf, new DkimVerifier(new NoDkimKeys(), TimeProvider.System), TimeSpan.FromMilliseconds(200),
            NullLogger<SenderAuthenticator>.Instance);

        var result = await authenticator.CheckAsync(IPAddress.Loopback, "mta.example.com", "", Mail, CancellationToken.None);

        Assert.Equal((SpfResult.TempError, "mta.example.com"), (result.Spf.Result, result.Spf.Domain));
        Assert.Equal(DkimResult.PermError, Assert.Single(result.Dkim).Result);
        Assert.False(result.AnyPass);
        Assert.Equal(1, spf.Checks);
    }

    [Fact]
    public async Task The_mail_from_domain_is_the_spf_identity_and_a_pass_counts()
    {
        var authenticator = new SenderAuthenticator(new FixedSpf(SpfResult.Pass, "Example.COM."), new DkimVerifier(new NoDkimKeys(), TimeProvider.System),
            TimeSpan.FromSeconds(30), NullLogger<SenderAuthenticator>.Instance);

        var result = await authenticator.CheckAsync(IPAddress.Loopback, "mta.example.com", "a@example.com", Mail, CancellationToken.None);

        Assert.Equal("example.com", result.SpfPassDomain);
        Assert.True(result.AnyPass);
    }
}
