using System.Net;
using ManycoreMail.Dns.Spf;

namespace ManycoreMail.Dns.Tests;

/// <summary>check_host() over an in-memory zone: RFC 7208 appendix A's example zone, every mechanism and qualifier,
/// the limits of §4.6.4, include and redirect, and the error results.</summary>
public sealed class SpfEvaluatorTests
{
    /// <summary>RFC 7208 appendix A, without the SPF record, which each test supplies.</summary>
    private static readonly string[] AppendixA =
    [
        "example.com MX 10 mail-a.example.com",
        "example.com MX 20 mail-b.example.com",
        "example.com A 192.0.2.10",
        "example.com A 192.0.2.11",
        "amy.example.com A 192.0.2.65",
        "bob.example.com A 192.0.2.66",
        "mail-a.example.com A 192.0.2.129",
        "mail-b.example.com A 192.0.2.130",
        "mail-c.example.org A 192.0.2.140",
        "example.org MX 10 mail-c.example.org",
        "10.2.0.192.in-addr.arpa PTR example.com",
        "11.2.0.192.in-addr.arpa PTR example.com",
        "65.2.0.192.in-addr.arpa PTR amy.example.com",
        "66.2.0.192.in-addr.arpa PTR bob.example.com",
        "129.2.0.192.in-addr.arpa PTR mail-a.example.com",
        "130.2.0.192.in-addr.arpa PTR mail-b.example.com",
        "140.2.0.192.in-addr.arpa PTR mail-c.example.org",
        "10.0.0.10.in-addr.arpa PTR bob.example.com",
    ];

    private static Task<SpfVerdict> CheckAsync(SpfFakeZone zone, string client, string mailFrom = "sender@example.com", string helo = "mail.example.net") =>
        new SpfEvaluator(zone).CheckAsync(IPAddress.Parse(client), helo, mailFrom, CancellationToken.None).AsTask();

    private static SpfFakeZone ZoneWithRecord(string record, params string[] more) =>
        new([.. AppendixA, $"example.com TXT {record}", .. more]);

    [Theory]
    // RFC 7208 appendix A.1, each example with a host it allows and one it does not
    [InlineData("v=spf1 +all", "198.51.100.1", SpfResult.Pass)]
    [InlineData("v=spf1 a -all", "192.0.2.10", SpfResult.Pass)]
    [InlineData("v=spf1 a -all", "192.0.2.11", SpfResult.Pass)]
    [InlineData("v=spf1 a -all", "192.0.2.12", SpfResult.Fail)]
    [InlineData("v=spf1 a:example.org -all", "192.0.2.140", SpfResult.Fail)]
    [InlineData("v=spf1 mx -all", "192.0.2.129", SpfResult.Pass)]
    [InlineData("v=spf1 mx -all", "192.0.2.130", SpfResult.Pass)]
    [InlineData("v=spf1 mx -all", "192.0.2.10", SpfResult.Fail)]
    [InlineData("v=spf1 mx:example.org -all", "192.0.2.140", SpfResult.Pass)]
    [InlineData("v=spf1 mx mx:example.org -all", "192.0.2.140", SpfResult.Pass)]
    [InlineData("v=spf1 mx mx:example.org -all", "192.0.2.129", SpfResult.Pass)]
    [InlineData("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.131", SpfResult.Pass)]
    [InlineData("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.143", SpfResult.Pass)]
    [InlineData("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.132", SpfResult.Fail)]
    [InlineData("v=spf1 ptr -all", "192.0.2.65", SpfResult.Pass)]
    [InlineData("v=spf1 ptr -all", "192.0.2.10", SpfResult.Pass)]
    [InlineData("v=spf1 ptr -all", "192.0.2.140", SpfResult.Fail)]
    [InlineData("v=spf1 ptr -all", "10.0.0.10", SpfResult.Fail)] // bob's PTR points back, bob's A does not: not validated
    [InlineData("v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.143", SpfResult.Pass)]
    [InlineData("v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.144", SpfResult.Fail)]
    // qualifiers, the default, and host bits in a published network
    [InlineData("v=spf1 -all", "192.0.2.10", SpfResult.Fail)]
    [InlineData("v=spf1 ~all", "192.0.2.10", SpfResult.SoftFail)]
    [InlineData("v=spf1 ?all", "192.0.2.10", SpfResult.Neutral)]
    [InlineData("v=spf1 ip4:198.51.100.1", "192.0.2.10", SpfResult.Neutral)]
    [InlineData("V=SPF1 IP4:192.0.2.1/24 -ALL", "192.0.2.200", SpfResult.Pass)]
    [InlineData("v=spf1 ip4:0.0.0.0/0 -all", "203.0.113.9", SpfResult.Pass)]
    [InlineData("v=spf1 -ip4:192.0.2.10 +all", "192.0.2.10", SpfResult.Fail)]
    // IPv6 clients and networks; an IPv4 client never matches ip6 and the other way round
    [InlineData("v=spf1 ip6:2001:db8::/32 -all", "2001:db8:1::5", SpfResult.Pass)]
    [InlineData("v=spf1 ip6:2001:db8::/32 -all", "2001:db9::5", SpfResult.Fail)]
    [InlineData("v=spf1 ip6:::/0 -all", "192.0.2.10", SpfResult.Fail)]
    [InlineData("v=spf1 ip4:192.0.2.0/24 -all", "2001:db8::1", SpfResult.Fail)]
    [InlineData("v=spf1 ip4:192.0.2.10 -all", "::ffff:192.0.2.10", SpfResult.Pass)]
    [InlineData("v=spf1 a:v6.example.com//64 -all", "2001:db8:0:1::99", SpfResult.Pass, "v6.example.com AAAA 2001:db8:0:1::1")]
    [InlineData("v=spf1 a:v6.example.com/24//64 -all", "2001:db8:0:2::1", SpfResult.Fail, "v6.example.com AAAA 2001:db8:0:1::1")]
    [InlineData("v=spf1 a/24 -all", "192.0.2.200", SpfResult.Pass)]
    [InlineData("v=spf1 a -all", "2001:db8::10", SpfResult.Pass, "example.com AAAA 2001:db8::10")]
    [InlineData("v=spf1 mx//120 -all", "2001:db8::1ff", SpfResult.Pass, "mail-a.example.com AAAA 2001:db8::100")]
    [InlineData("v=spf1 mx -all", "2001:db8::1ff", SpfResult.Fail, "mail-a.example.com AAAA 2001:db8::100")]
    [InlineData("v=spf1 ptr -all", "2001:db8::65", SpfResult.Pass, "5.6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa PTR amy.example.com|amy.example.com AAAA 2001:db8::65")]
    // exists always asks for A records
    [InlineData("v=spf1 exists:%{ir}.list.example.net -all", "192.0.2.10", SpfResult.Pass, "10.2.0.192.list.example.net A 127.0.0.2")]
    [InlineData("v=spf1 exists:%{ir}.list.example.net -all", "192.0.2.11", SpfResult.Fail, "10.2.0.192.list.example.net A 127.0.0.2")]
    // unknown modifiers and exp= change nothing
    [InlineData("v=spf1 moo=%{d}.cow -all", "192.0.2.10", SpfResult.Fail)]
    [InlineData("v=spf1 exp=explain.%{d} -all", "192.0.2.10", SpfResult.Fail)]
    [InlineData("v=spf1 exp=%{c}.%{r}.%{t}.example.com ip4:192.0.2.10 -all", "192.0.2.10", SpfResult.Pass)]
    /// <param name="extra">More zone lines, separated by '|'.</param>
    public async Task Mechanisms_and_qualifiers(string record, string client, SpfResult expected, string? extra = null)
    {
        var zone = ZoneWithRecord(record, extra?.Split('|') ?? []);

        var verdict = await CheckAsync(zone, client);

        Assert.True(expected == verdict.Result, $"{record} for {client}: {verdict}");
        Assert.Equal("example.com", verdict.Domain);
    }

    [Theory]
    [InlineData("v=spf1 foo -all", "not a valid mechanism")]
    [InlineData("v=spf1 +all foo", "not a valid mechanism")] // a syntax error after the matching term still counts
    [InlineData("v=spf1 ip4:192.0.2.300 -all", "ip4:192.0.2.300")]
    [InlineData("v=spf1 ip4:192.0.2.1/33 -all", "ip4:192.0.2.1/33")]
    [InlineData("v=spf1 ip4:192.0.2.01 -all", "ip4:192.0.2.01")]
    [InlineData("v=spf1 ip4:10.1 -all", "ip4:10.1")]
    [InlineData("v=spf1 ip6:2001:db8::/129 -all", "ip6:2001:db8::/129")]
    [InlineData("v=spf1 ip6:192.0.2.1 -all", "ip6:192.0.2.1")]
    [InlineData("v=spf1 a/024 -all", "a/024")]
    [InlineData("v=spf1 ptr/24 -all", "ptr/24")]
    [InlineData("v=spf1 all:example.com", "all:example.com")]
    [InlineData("v=spf1 include -all", "include")]
    [InlineData("v=spf1 a:foo -all", "does not end in a top-level domain label")]
    [InlineData("v=spf1 include:192.0.2.1 -all", "does not end in a top-level domain label")]
    [InlineData("v=spf1 exists:%{z}.example.net -all", "malformed macro")]
    [InlineData("v=spf1 exists:%{d0}.example.net -all", "malformed macro")]
    [InlineData("v=spf1 exists:%{c}.example.net -all", "malformed macro")] // c only in exp=
    [InlineData("v=spf1 exists:%{d}%.example.net -all", "'%' that is not followed")]
    [InlineData("v=spf1 exists:%{dx}.example.net -all", "malformed macro")]
    [InlineData("v=spf1 redirect=a.example.net redirect=b.example.net", "more than once")]
    [InlineData("v=spf1 exp=a.example.net exp=b.example.net -all", "more than once")]
    [InlineData("v=spf1 -redirect=a.example.net", "not a valid mechanism")]
    [InlineData("v=spf1 moo=%{", "malformed macro")]
    public async Task Syntax_errors_are_permerrors(string record, string reason)
    {
        var verdict = await CheckAsync(ZoneWithRecord(record), "192.0.2.10");

        Assert.Equal(SpfResult.PermError, verdict.Result);
        Assert.Contains(reason, verdict.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "example.com A 192.0.2.10" }, SpfResult.None, "publishes no SPF record")]
    [InlineData(new[] { "example.com TXT google-site-verification=abc", "example.com TXT v=spf10 +all" }, SpfResult.None, "publishes no SPF record")]
    [InlineData(new[] { "example.com TXT v=spf1 -all", "example.com TXT v=spf1 +all" }, SpfResult.PermError, "publishes 2 SPF records")]
    [InlineData(new[] { "example.com TXT v=spf1 +all", "example.com TXT spf2.0/pra -all" }, SpfResult.Pass, "+all matched")]
    [InlineData(new[] { "example.com TXT v=spf1" }, SpfResult.Neutral, "no mechanism matched")]
    [InlineData(new[] { "example.com TEMPFAIL" }, SpfResult.TempError, "DNS error")]
    [InlineData(new[] { "example.net TXT v=spf1 +all" }, SpfResult.None, "example.com does not exist")]
    public async Task Record_selection(string[] zone, SpfResult expected, string reason)
    {
        var verdict = await CheckAsync(new SpfFakeZone(zone), "192.0.2.10");

        Assert.Equal(expected, verdict.Result);
        Assert.Contains(reason, verdict.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("v=spf1 include:inc.example.net -all", "inc.example.net TXT v=spf1 ip4:192.0.2.10 -all", SpfResult.Pass)]
    [InlineData("v=spf1 include:inc.example.net ~all", "inc.example.net TXT v=spf1 -all", SpfResult.SoftFail)]
    [InlineData("v=spf1 include:inc.example.net ~all", "inc.example.net TXT v=spf1 ~all", SpfResult.SoftFail)]
    [InlineData("v=spf1 include:inc.example.net ~all", "inc.example.net TXT v=spf1 ?all", SpfResult.SoftFail)]
    [InlineData("v=spf1 -include:inc.example.net +all", "inc.example.net TXT v=spf1 +all", SpfResult.Fail)]
    [InlineData("v=spf1 include:inc.example.net ~all", "inc.example.net TEMPFAIL", SpfResult.TempError)]
    [InlineData("v=spf1 include:inc.example.net ~all", "inc.example.net TXT v=spf1 bad", SpfResult.PermError)]
    [InlineData("v=spf1 include:inc.example.net ~all", "inc.example.net A 192.0.2.10", SpfResult.PermError)] // none inside
    [InlineData("v=spf1 include:nowhere.example.net ~all", "inc.example.net A 192.0.2.10", SpfResult.PermError)]
    // the included record's a and %{d} are about the included domain
    [InlineData("v=spf1 include:inc.example.net -all", "inc.example.net TXT v=spf1 a -all", SpfResult.Fail)]
    [InlineData("v=spf1 include:mail-a.example.com -all", "mail-a.example.com TXT v=spf1 a -all", SpfResult.Fail)]
    [InlineData("v=spf1 redirect=red.example.net", "red.example.net TXT v=spf1 ip4:192.0.2.10 -all", SpfResult.Pass)]
    [InlineData("v=spf1 redirect=red.example.net", "red.example.net TXT v=spf1 ~all", SpfResult.SoftFail)]
    [InlineData("v=spf1 -all redirect=red.example.net", "red.example.net TXT v=spf1 +all", SpfResult.Fail)] // redirect only without a match
    [InlineData("v=spf1 redirect=red.example.net -all", "red.example.net TXT v=spf1 +all", SpfResult.Fail)] // position does not matter
    [InlineData("v=spf1 redirect=red.example.net", "red.example.net A 192.0.2.10", SpfResult.PermError)] // no record there
    [InlineData("v=spf1 redirect=red.example.net", "red.example.net TEMPFAIL", SpfResult.TempError)]
    [InlineData("v=spf1 include:example.com -all", "inc.example.net A 192.0.2.10", SpfResult.PermError)] // a loop ends at the term limit
    [InlineData("v=spf1 redirect=example.com", "inc.example.net A 192.0.2.10", SpfResult.PermError)]
    [InlineData("v=spf1 redirect=%{d}.red.example.net", "example.com.red.example.net TXT v=spf1 exists:%{d} -all", SpfResult.Pass)]
    public async Task Include_and_redirect(string record, string other, SpfResult expected)
    {
        var zone = ZoneWithRecord(record, other, "example.com.red.example.net A 127.0.0.1");

        var verdict = await CheckAsync(zone, "192.0.2.10");

        Assert.True(expected == verdict.Result, $"{record} with {other}: {verdict}");
    }

    [Fact]
    public async Task Include_pass_from_inside_names_the_inner_record_in_the_reason()
    {
        var zone = ZoneWithRecord("v=spf1 include:inc.example.net -all", "inc.example.net TXT v=spf1 ip4:192.0.2.10 -all");

        var verdict = await CheckAsync(zone, "192.0.2.10");

        Assert.Equal(new SpfVerdict(SpfResult.Pass, "example.com", "example.com: include:inc.example.net matched"), verdict);
    }

    [Theory]
    [InlineData(10, SpfResult.Pass)]
    [InlineData(11, SpfResult.PermError)]
    public async Task At_most_ten_dns_querying_terms_across_includes(int depth, SpfResult expected)
    {
        // A chain of includes: example.com includes l1, l1 includes l2, ..., the last passes with ip4 (no DNS).
        var lines = new List<string> { "example.com TXT v=spf1 include:l1.example.net -all" };
        for (var level = 1; level < depth; level++)
        {
            lines.Add($"l{level}.example.net TXT v=spf1 include:l{level + 1}.example.net -all");
        }

        lines.Add($"l{depth}.example.net TXT v=spf1 ip4:192.0.2.10 -all");

        var verdict = await CheckAsync(new SpfFakeZone(lines), "192.0.2.10");

        Assert.True(expected == verdict.Result, verdict.ToString());
    }

    [Theory]
    [InlineData("v=spf1 a:a.example.net a:b.example.net a:c.example.net a:d.example.net a:e.example.net mx:a.example.net mx:b.example.net mx:c.example.net ptr:a.example.net exists:e.example.net -all", SpfResult.Pass)]
    [InlineData("v=spf1 a:a.example.net a:b.example.net a:c.example.net a:d.example.net a:e.example.net mx:a.example.net mx:b.example.net mx:c.example.net ptr:a.example.net a:f.example.net exists:e.example.net -all", SpfResult.PermError)]
    [InlineData("v=spf1 ip4:10.0.0.1 ip4:10.0.0.2 ip4:10.0.0.3 ip4:10.0.0.4 ip4:10.0.0.5 ip4:10.0.0.6 ip4:10.0.0.7 ip4:10.0.0.8 ip4:10.0.0.9 ip4:10.0.0.10 ip4:10.0.0.11 all", SpfResult.Pass)] // ip4 costs no lookup
    [InlineData("v=spf1 a:a.example.net a:b.example.net a:c.example.net a:d.example.net a:e.example.net a:f.example.net a:g.example.net a:h.example.net a:i.example.net a:j.example.net redirect=r.example.net", SpfResult.PermError)]
    public async Task Dns_term_limit_counts_each_querying_term(string record, SpfResult expected)
    {
        // Every name has an address and an MX, so no lookup is void: only the term count can fail.
        var names = "abcdefghij".SelectMany(c => new[] { $"{c}.example.net A 198.51.100.1", $"{c}.example.net MX 10 {c}.example.net" });
        var zone = new SpfFakeZone([$"example.com TXT {record}", "r.example.net TXT v=spf1 +all", .. names]);

        var verdict = await CheckAsync(zone, "192.0.2.10");

        Assert.True(expected == verdict.Result, verdict.ToString());
    }

    [Theory]
    [InlineData("v=spf1 a:none1.example.net a:none2.example.net +all", SpfResult.Pass)]
    [InlineData("v=spf1 a:none1.example.net a:none2.example.net a:none3.example.net +all", SpfResult.PermError)]
    [InlineData("v=spf1 a:empty.example.net mx:empty.example.net exists:none1.example.net +all", SpfResult.PermError)] // NODATA is void too
    [InlineData("v=spf1 a:v6only.example.net a:v6only.example.net a:v6only.example.net +all", SpfResult.PermError)] // no A for a v4 client
    [InlineData("v=spf1 a:empty.example.net a:empty.example.net a:example.com a:example.com +all", SpfResult.Pass)]
    public async Task At_most_two_void_lookups(string record, SpfResult expected)
    {
        var zone = ZoneWithRecord(record, "empty.example.net TXT not spf", "v6only.example.net AAAA 2001:db8::1");

        var verdict = await CheckAsync(zone, "192.0.2.99");

        Assert.True(expected == verdict.Result, verdict.ToString());
    }

    [Theory]
    [InlineData(10, SpfResult.Pass)]
    [InlineData(11, SpfResult.PermError)]
    public async Task Mx_with_more_than_ten_names_is_a_permerror(int count, SpfResult expected)
    {
        var lines = new List<string> { "example.com TXT v=spf1 mx -all" };
        for (var i = 1; i <= count; i++)
        {
            lines.Add($"example.com MX {i} mx{i}.example.com");
            lines.Add($"mx{i}.example.com A 192.0.2.{i}");
        }

        var verdict = await CheckAsync(new SpfFakeZone(lines), "192.0.2.1");

        Assert.True(expected == verdict.Result, verdict.ToString());
    }

    [Fact]
    public async Task Ptr_tries_only_the_first_ten_names()
    {
        var lines = new List<string> { "example.com TXT v=spf1 ptr -all" };
        for (var i = 1; i <= 11; i++)
        {
            lines.Add($"10.2.0.192.in-addr.arpa PTR h{i}.example.com");
            // only the eleventh name would validate
            lines.Add($"h{i}.example.com A {(i == 11 ? "192.0.2.10" : "198.51.100.1")}");
        }

        var verdict = await CheckAsync(new SpfFakeZone(lines), "192.0.2.10");

        Assert.Equal(SpfResult.Fail, verdict.Result);
    }

    [Theory]
    [InlineData("v=spf1 a:down.example.net -all", SpfResult.TempError)]
    [InlineData("v=spf1 mx:down.example.net -all", SpfResult.TempError)]
    [InlineData("v=spf1 exists:down.example.net -all", SpfResult.TempError)]
    [InlineData("v=spf1 mx:mxdown.example.net -all", SpfResult.TempError)] // an MX host's address lookup fails
    [InlineData("v=spf1 ptr:example.com -all", SpfResult.Fail)] // PTR trouble only means no match
    public async Task Dns_trouble(string record, SpfResult expected)
    {
        var zone = new SpfFakeZone(
            $"example.com TXT {record}",
            "down.example.net TEMPFAIL",
            "mxdown.example.net MX 10 down.example.net",
            "99.2.0.192.in-addr.arpa TEMPFAIL");

        var verdict = await CheckAsync(zone, "192.0.2.99");

        Assert.True(expected == verdict.Result, verdict.ToString());
    }

    [Fact]
    public async Task A_check_that_outlives_its_deadline_is_a_temperror()
    {
        var zone = new SpfFakeZone("example.com TXT v=spf1 a:slow.example.net -all", "slow.example.net HANG");

        var verdict = await new SpfEvaluator(zone, TimeSpan.FromMilliseconds(50)).CheckAsync(IPAddress.Parse("192.0.2.1"), "helo.example.net", "a@example.com", CancellationToken.None);

        Assert.Equal(SpfResult.TempError, verdict.Result);
        Assert.Contains("took longer", verdict.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_callers_cancellation_is_not_a_verdict()
    {
        var zone = new SpfFakeZone("example.com TXT v=spf1 a:slow.example.net -all", "slow.example.net HANG");
        using var cancel = new CancellationTokenSource();
        var check = new SpfEvaluator(zone).CheckAsync(IPAddress.Parse("192.0.2.1"), "helo.example.net", "a@example.com", cancel.Token).AsTask();

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => check);
    }

    [Theory]
    [InlineData("", "mail.example.net", "mail.example.net", SpfResult.Pass)] // null reverse-path: postmaster@HELO
    [InlineData("@example.net", "helo.example.org", "example.net", SpfResult.Pass)]
    [InlineData("joe@example.net", "helo.example.org", "example.net", SpfResult.Fail)]
    public async Task Helo_identity_and_postmaster_default(string mailFrom, string helo, string domain, SpfResult expected)
    {
        // Passes only when the local part is "postmaster".
        var zone = new SpfFakeZone(
            $"{domain} TXT v=spf1 exists:%{{l}}.%{{o}}.users.example.com -all",
            $"postmaster.{domain}.users.example.com A 127.0.0.2");

        var verdict = await CheckAsync(zone, "192.0.2.10", mailFrom, helo);

        Assert.Equal(new SpfVerdict(expected, domain, verdict.Reason), verdict);
    }

    [Theory]
    [InlineData("joe@localhost")]
    [InlineData("joe@[192.0.2.1]")]
    [InlineData("joe@exa..mple.com")]
    public async Task An_identity_that_is_not_a_domain_is_none(string mailFrom)
    {
        var verdict = await CheckAsync(new SpfFakeZone("localhost TXT v=spf1 -all"), "192.0.2.10", mailFrom);

        Assert.Equal(SpfResult.None, verdict.Result);
        Assert.Contains("not a multi-label domain", verdict.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("192.0.2.65", "amy.example.com")] // validated and below the domain
    [InlineData("192.0.2.10", "example.com")]
    [InlineData("192.0.2.140", "mail-c.example.org")] // validated, though not below the domain
    [InlineData("198.51.100.7", "unknown")] // no PTR
    [InlineData("10.0.0.10", "unknown")] // PTR not confirmed by A
    public async Task Validated_name_macro(string client, string expectedName)
    {
        var zone = ZoneWithRecord("v=spf1 exists:%{p}.names.example.net -all", $"{expectedName}.names.example.net A 127.0.0.2");

        var verdict = await CheckAsync(zone, client);

        Assert.True(verdict.Result == SpfResult.Pass, verdict.ToString());
    }

    [Fact]
    public async Task A_resolver_without_the_spf_lookups_gets_working_defaults()
    {
        var plain = new Support.FakeDnsResolver();
        plain.Addresses["both.example.net"] = Support.FakeDnsResolver.Ok(IPAddress.Parse("192.0.2.1"), IPAddress.Parse("2001:db8::1"));
        plain.Addresses["v4.example.net"] = Support.FakeDnsResolver.Ok(IPAddress.Parse("192.0.2.2"));
        IDnsResolver resolver = plain;

        var v6 = await resolver.ResolveAddressesAsync("both.example.net", System.Net.Sockets.AddressFamily.InterNetworkV6, CancellationToken.None);
        var none = await resolver.ResolveAddressesAsync("v4.example.net", System.Net.Sockets.AddressFamily.InterNetworkV6, CancellationToken.None);
        var missing = await resolver.ResolveAddressesAsync("nope.example.net", System.Net.Sockets.AddressFamily.InterNetwork, CancellationToken.None);
        var names = await resolver.ResolvePtrAsync(IPAddress.Parse("192.0.2.1"), CancellationToken.None);

        Assert.Equal([IPAddress.Parse("2001:db8::1")], v6.Records);
        Assert.Equal(DnsStatus.NoData, none.Status);
        Assert.Equal(DnsStatus.NxDomain, missing.Status);
        Assert.Equal(DnsStatus.NoData, names.Status);
    }

    [Theory]
    [InlineData("192.0.2.3", "3.2.0.192.in-addr.arpa")]
    [InlineData("2001:db8::cb01", "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")]
    [InlineData("::ffff:192.0.2.3", "3.2.0.192.in-addr.arpa")]
    public void Reverse_lookup_names(string address, string expected) =>
        Assert.Equal(expected, DnsName.ReverseLookupName(IPAddress.Parse(address)));
}
