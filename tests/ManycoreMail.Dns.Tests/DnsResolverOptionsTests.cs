using System.Net;

namespace ManycoreMail.Dns.Tests;

public sealed class DnsResolverOptionsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("resolvconf-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string text)
    {
        var path = Path.Combine(_directory, "resolv.conf");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void From_servers_reads_every_form()
    {
        var options = DnsResolverOptions.FromServers(["127.0.0.1:5354", "::1", "[::1]:53", "10.0.0.1", " [fe80::1]:5300 "]);

        Assert.Equal(
            [
                new IPEndPoint(IPAddress.Loopback, 5354),
                new IPEndPoint(IPAddress.IPv6Loopback, 53),
                new IPEndPoint(IPAddress.IPv6Loopback, 53),
                new IPEndPoint(IPAddress.Parse("10.0.0.1"), 53),
                new IPEndPoint(IPAddress.Parse("fe80::1"), 5300),
            ],
            options.Servers);
    }

    [Theory]
    [InlineData("dns.example.test")]
    [InlineData("127.0.0.1:0")]
    [InlineData("127.0.0.1:65536")]
    [InlineData("127.0.0.1:")]
    [InlineData("127.0.0.1:53x")]
    [InlineData("[::1]53")]
    [InlineData("[127.0.0.1]:53")]
    [InlineData("10")]
    [InlineData("")]
    public void From_servers_names_the_bad_entry(string entry)
    {
        var error = Assert.Throws<FormatException>(() => DnsResolverOptions.FromServers(["127.0.0.1", entry]));

        Assert.Contains($"'{entry}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void From_servers_needs_at_least_one()
    {
        Assert.Throws<ArgumentException>(() => DnsResolverOptions.FromServers([]));
    }

    [Fact]
    public void Resolv_conf_nameservers_in_order_comments_and_other_keywords_ignored()
    {
        var path = Write("""
            # generated
            ; also a comment
            search example.test
            options timeout:1 attempts:3
            nameserver 192.0.2.53
              nameserver   2001:db8::53   # trailing words are ignored
            nameserver 127.0.0.1
            domain example.test
            """);

        var options = DnsResolverOptions.FromResolvConf(path);

        Assert.Equal(
            [new IPEndPoint(IPAddress.Parse("192.0.2.53"), 53), new IPEndPoint(IPAddress.Parse("2001:db8::53"), 53), new IPEndPoint(IPAddress.Loopback, 53)],
            options.Servers);
    }

    [Fact]
    public void Resolv_conf_without_nameservers_falls_back_to_the_local_server()
    {
        var options = DnsResolverOptions.FromResolvConf(Write("search example.test\n"));

        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 53)], options.Servers);
    }

    [Fact]
    public void Missing_resolv_conf_falls_back_to_the_local_server()
    {
        var options = DnsResolverOptions.FromResolvConf(Path.Combine(_directory, "absent"));

        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 53)], options.Servers);
    }

    [Fact]
    public void Resolv_conf_bad_nameserver_names_file_line_and_entry()
    {
        var path = Write("nameserver 127.0.0.1\nnameserver dns.example.test\n");

        var error = Assert.Throws<FormatException>(() => DnsResolverOptions.FromResolvConf(path));

        Assert.Contains($"{path}:2", error.Message, StringComparison.Ordinal);
        Assert.Contains("'dns.example.test'", error.Message, StringComparison.Ordinal);
    }
}
