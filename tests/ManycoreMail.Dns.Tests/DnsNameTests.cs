namespace ManycoreMail.Dns.Tests;

public sealed class DnsNameTests
{
    [Theory]
    [InlineData("example.test", "example.test")]
    [InlineData("Example.TEST.", "example.test")]
    [InlineData("bücher.example", "xn--bcher-kva.example")]
    [InlineData("BÜCHER.example.", "xn--bcher-kva.example")]
    [InlineData("sel._domainkey.example.test", "sel._domainkey.example.test")]
    public void Normalizes(string input, string expected)
    {
        Assert.True(DnsName.TryNormalize(input, out var normalized));
        Assert.Equal(expected, normalized);
    }

    [Fact]
    public void Already_normal_name_is_returned_as_is()
    {
        const string name = "mx1.example.test";

        DnsName.TryNormalize(name, out var normalized);

        Assert.Same(name, normalized);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("a..b")]
    [InlineData(".a")]
    [InlineData("a b.test")]
    [InlineData("a\\b.test")]
    [InlineData("a\u0001.test")]
    public void Rejects(string? input)
    {
        Assert.False(DnsName.TryNormalize(input, out _));
    }

    [Fact]
    public void Rejects_a_label_of_64_characters_and_a_name_of_254()
    {
        Assert.True(DnsName.TryNormalize(new string('a', 63) + ".test", out _));
        Assert.False(DnsName.TryNormalize(new string('a', 64) + ".test", out _));

        var longest = string.Join('.', Enumerable.Repeat(new string('a', 62), 4)) + ".a"; // 4 * 63 + 1 = 253
        Assert.Equal(253, longest.Length);
        Assert.True(DnsName.TryNormalize(longest, out _));
        Assert.False(DnsName.TryNormalize(longest + "a", out _));
    }
}
