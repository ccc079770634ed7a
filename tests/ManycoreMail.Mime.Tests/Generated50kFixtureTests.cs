using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace ManycoreMail.Mime.Tests;

/// <summary>
/// 50k.eml stands in for the original system's real 53 KB Thunderbird message (tests/fixtures/original-system/NOTICE.md):
/// it must keep that message's shape, and it must never come to hold anyone's real data.
/// </summary>
public sealed partial class Generated50kFixtureTests
{
    private static readonly byte[] Message = Fixture.Bytes("50k.eml");
    private static readonly string Text = Encoding.ASCII.GetString(Message);

    [Fact]
    public void Has_the_size_and_shape_of_the_original()
    {
        Assert.InRange(Message.Length, 53_000, 55_000);
        Assert.Equal(Text.Split("\n").Length - 1, Text.Split("\r\n").Length - 1); // CRLF only, no bare LF

        var headers = Fixture.Parse(Message);
        Assert.True(headers.All("Received").Count() >= 4, "a long Received chain");
        Assert.True(headers.All("ARC-Seal").Count() >= 1, "an ARC set");
        Assert.Equal("text/plain; charset=UTF-8; format=flowed", headers.First("Content-Type"));
        Assert.Equal("7bit", headers.First("Content-Transfer-Encoding"));
        Assert.Null(headers.First("X-Uuid"));
        Assert.Null(headers.First("X-Priority"));

        var body = Text[headers.BodyOffset..].Split("\r\n");
        Assert.True(body.Length > 600, $"{body.Length} body lines");
        Assert.All(body[..^2], line => Assert.Equal("0123456789012345678901234567890123456789012345678901234567890123456789", line));
        Assert.Equal(new[] { "", "" }, body[^2..]);
    }

    [Fact]
    public void Names_only_example_domains_and_documentation_addresses()
    {
        var hosts = HostName().Matches(Text).Select(m => m.Value).Distinct().ToList();
        Assert.NotEmpty(hosts);
        Assert.All(hosts, host => Assert.Matches(@"(^|\.)example\.(com|net|org)$", host));

        var v4 = IPv4().Matches(Text).Select(m => IPAddress.Parse(m.Value)).ToList();
        Assert.NotEmpty(v4);
        Assert.All(v4, address => Assert.True(IsDocumentation(address), address.ToString()));

        var v6 = IPv6().Matches(Text).Select(m => m.Value).ToList();
        Assert.NotEmpty(v6);
        Assert.All(v6, address => Assert.True(IPAddress.TryParse(address, out var parsed) && IsDocumentation(parsed), address));
    }

    private static bool IsDocumentation(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetworkV6
            ? IPNetwork.Parse("2001:db8::/32").Contains(address)
            : new[] { "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24" }.Any(range => IPNetwork.Parse(range).Contains(address));

    // A dotted name ending in letters: host names, mail domains, values such as "d=example.com"; not an
    // Authentication-Results property name such as "smtp.mailfrom=".
    [GeneratedRegex(@"\b(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b(?!=)")]
    private static partial Regex HostName();

    [GeneratedRegex(@"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")]
    private static partial Regex IPv4();

    // Only the forms used in Received lines: inside brackets or after "by".
    [GeneratedRegex(@"(?<=\[|by )[0-9a-fA-F]{1,4}:[0-9a-fA-F:]+(?=[\] ])")]
    private static partial Regex IPv6();
}
