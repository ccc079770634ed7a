using System.Net;
using ManycoreMail.Dns.Spf;

namespace ManycoreMail.Dns.Tests;

/// <summary>Macro expansion: the examples of RFC 7208 §7.4 and the escapes of §7.1.</summary>
public sealed class SpfMacroTests
{
    private static SpfMacroContext Context(string client) =>
        new("strong-bad@email.example.com", "strong-bad", "email.example.com", "email.example.com", IPAddress.Parse(client), "mx.example.org");

    [Theory]
    [InlineData("%{s}", "strong-bad@email.example.com")]
    [InlineData("%{o}", "email.example.com")]
    [InlineData("%{d}", "email.example.com")]
    [InlineData("%{d4}", "email.example.com")]
    [InlineData("%{d3}", "email.example.com")]
    [InlineData("%{d2}", "example.com")]
    [InlineData("%{d1}", "com")]
    [InlineData("%{dr}", "com.example.email")]
    [InlineData("%{d2r}", "example.email")]
    [InlineData("%{l}", "strong-bad")]
    [InlineData("%{l-}", "strong.bad")]
    [InlineData("%{lr}", "strong-bad")]
    [InlineData("%{lr-}", "bad.strong")]
    [InlineData("%{l1r-}", "strong")]
    [InlineData("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com")]
    [InlineData("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com")]
    [InlineData("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com")]
    [InlineData("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com")]
    [InlineData("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net")]
    [InlineData("%{h}.%{d999}", "mx.example.org.email.example.com")]
    [InlineData("%{S}", "strong-bad%40email.example.com")] // upper case: URL-escaped
    [InlineData("%%%_%-", "% %20")]
    [InlineData("%{l+-=}", "strong.bad")]
    [InlineData("%{p}", "unknown")]
    public void Rfc_7208_examples_for_ipv4(string macro, string expected) =>
        Assert.Equal(expected, Expand(macro, "192.0.2.3"));

    [Theory]
    [InlineData("%{ir}.%{v}._spf.%{d2}", "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com")]
    [InlineData("%{i}", "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1")]
    public void Rfc_7208_examples_for_ipv6(string macro, string expected) =>
        Assert.Equal(expected, Expand(macro, "2001:db8::cb01"));

    [Theory]
    [InlineData("%{d}", true)]
    [InlineData("%{d}.example.com.", true)]
    [InlineData("_spf.example.com", true)]
    [InlineData("a-1.b-2", true)]
    [InlineData("example", false)]
    [InlineData("example.123", false)]
    [InlineData("example.-com", false)]
    [InlineData("example.com-", false)]
    [InlineData("%{d}.", false)]
    [InlineData("", false)]
    public void Domain_spec_must_end_in_a_top_label_or_a_macro(string text, bool valid) =>
        Assert.Equal(valid, SpfMacroString.TryParseDomainSpec(text, explanation: false, out _, out _));

    private static string Expand(string macro, string client)
    {
        Assert.True(SpfMacroString.TryParse(macro, explanation: false, out var parsed, out var error), error);
        return parsed.Expand(Context(client));
    }
}
