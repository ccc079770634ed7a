using System.Buffers;
using System.Net;
using System.Text;
using ManycoreMail.Smtp.Internal;
using ManycoreMail.Smtp.Tests.Support;

namespace ManycoreMail.Smtp.Tests;

/// <summary>The PROXY protocol (v1 text, v2 binary) in front of a listener: the parser, and the server using
/// the client address it carries for trusted-networks and limits.</summary>
public sealed class ProxyProtocolTests
{
    private static readonly IPNetwork Loopback = IPNetwork.Parse("127.0.0.0/8");

    private static byte[] V2(byte command, byte family, byte[] addresses, int extraLength = 0)
    {
        byte[] signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];
        var length = addresses.Length + extraLength;
        return [.. signature, (byte)(0x20 | command), family, (byte)(length >> 8), (byte)length, .. addresses, .. new byte[extraLength]];
    }

    private static byte[] V2Tcp4(string source, int sourcePort, string destination, int destinationPort, int tlvLength = 0) =>
        V2(1, 0x11,
        [
            .. IPAddress.Parse(source).GetAddressBytes(), .. IPAddress.Parse(destination).GetAddressBytes(),
            (byte)(sourcePort >> 8), (byte)sourcePort, (byte)(destinationPort >> 8), (byte)destinationPort,
        ], tlvLength);

    private static (ProxyParseStatus Status, ProxyHeader Header, long Consumed) Parse(byte[] bytes)
    {
        var status = ProxyProtocolParser.TryParse(new ReadOnlySequence<byte>(bytes), out var header, out var consumed);
        return (status, header, consumed);
    }

    [Fact]
    public void V1_tcp4_tcp6_and_unknown_parse()
    {
        var (status, header, consumed) = Parse(Encoding.ASCII.GetBytes("PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\nEHLO"));
        Assert.Equal(ProxyParseStatus.Done, status);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.7"), 56324), header.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.51.100.1"), 25), header.Destination);
        Assert.Equal(44, consumed);

        (status, header, _) = Parse(Encoding.ASCII.GetBytes("PROXY TCP6 2001:db8::1 2001:db8::2 1 587\r\n"));
        Assert.Equal(ProxyParseStatus.Done, status);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 1), header.Source);

        (status, header, consumed) = Parse(Encoding.ASCII.GetBytes("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"));
        Assert.Equal(ProxyParseStatus.Done, status);
        Assert.Null(header.Source);
        Assert.Equal(35, consumed);
    }

    [Theory]
    [InlineData("PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\n")]
    [InlineData("PROXY TCP4 192.0.2.7 198.51.100.1 056324 25\r\n")]
    [InlineData("PROXY TCP4 192.0.2.7 198.51.100.1 65536 25\r\n")]
    [InlineData("PROXY TCP4 2001:db8::1 198.51.100.1 1 25\r\n")]
    [InlineData("PROXY TCP6 192.0.2.7 2001:db8::2 1 25\r\n")]
    [InlineData("PROXY TCP4 192.0.2.7  198.51.100.1 1 25\r\n")]
    [InlineData("PROXY TCP4 7 198.51.100.1 1 25\r\n")]
    [InlineData("PROXY UDP4 192.0.2.7 198.51.100.1 1 25\r\n")]
    [InlineData("PROXY TCP4 192.0.2.7 198.51.100.1 1 25 9\r\n")]
    [InlineData("proxy TCP4 192.0.2.7 198.51.100.1 1 25\r\n")]
    [InlineData("EHLO client.test\r\n")]
    [InlineData("\r\nEHLO x\r\n")]
    public void Malformed_v1_headers_are_invalid(string text)
    {
        Assert.Equal(ProxyParseStatus.Invalid, Parse(Encoding.ASCII.GetBytes(text)).Status);
    }

    [Fact]
    public void A_v1_line_without_end_is_invalid_once_longer_than_any_header()
    {
        Assert.Equal(ProxyParseStatus.Incomplete, Parse(Encoding.ASCII.GetBytes("PROXY TCP6 " + new string('1', 90))).Status);
        Assert.Equal(ProxyParseStatus.Invalid, Parse(Encoding.ASCII.GetBytes("PROXY TCP6 " + new string('1', 100))).Status);
    }

    [Fact]
    public void V2_tcp4_tcp6_local_and_tlvs_parse()
    {
        var (status, header, consumed) = Parse([.. V2Tcp4("203.0.113.9", 40000, "10.0.0.1", 25, tlvLength: 7), .. "EHLO"u8]);
        Assert.Equal(ProxyParseStatus.Done, status);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("203.0.113.9"), 40000), header.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.1"), 25), header.Destination);
        Assert.Equal(16 + 12 + 7, consumed);

        var v6 = IPAddress.Parse("2001:db8::9").GetAddressBytes();
        (status, header, _) = Parse(V2(1, 0x21, [.. v6, .. v6, 0x01, 0x00, 0x00, 0x19]));
        Assert.Equal(ProxyParseStatus.Done, status);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::9"), 256), header.Source);

        (status, header, consumed) = Parse(V2(0, 0x00, []));
        Assert.Equal(ProxyParseStatus.Done, status);
        Assert.Null(header.Source);
        Assert.Equal(16, consumed);
    }

    [Fact]
    public void Malformed_v2_headers_are_invalid()
    {
        var good = V2Tcp4("203.0.113.9", 1, "10.0.0.1", 25);
        var badVersion = (byte[])good.Clone();
        badVersion[12] = 0x11;
        var badCommand = (byte[])good.Clone();
        badCommand[12] = 0x22;
        var badFamily = (byte[])good.Clone();
        badFamily[13] = 0x41;
        var shortAddresses = V2(1, 0x11, [1, 2, 3, 4]);
        var badSignature = (byte[])good.Clone();
        badSignature[5] = 0x0E;
        foreach (var bytes in new[] { badVersion, badCommand, badFamily, shortAddresses, badSignature })
        {
            Assert.Equal(ProxyParseStatus.Invalid, Parse(bytes).Status);
        }
    }

    [Fact]
    public void Headers_arriving_a_byte_at_a_time_are_incomplete_until_whole()
    {
        foreach (var bytes in new[] { Encoding.ASCII.GetBytes("PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\n"), V2Tcp4("203.0.113.9", 1, "10.0.0.1", 25, 3) })
        {
            for (var length = 0; length < bytes.Length; length++)
            {
                Assert.Equal(ProxyParseStatus.Incomplete, Parse(bytes[..length]).Status);
            }

            Assert.Equal(ProxyParseStatus.Done, Parse(bytes).Status);
        }
    }

    [Fact]
    public async Task The_proxied_client_address_decides_trust_and_reaches_the_handler()
    {
        var options = TestServer.DefaultOptions with
        {
            ProxyProtocol = true,
            ProxyProtocolFrom = [Loopback],
            AuthEnabled = true,
            RequireAuthentication = true,
            TrustedNetworks = [IPNetwork.Parse("10.0.0.0/8")],
        };
        await using var server = TestServer.Start(options);

        // Not trusted although the TCP peer (127.0.0.1, the "load balancer") is local.
        await using (var outsider = await server.ConnectRawAsync())
        {
            await outsider.SendAsync(V2Tcp4("203.0.113.9", 40000, "10.0.0.1", 25));
            Assert.Equal(["220 mx.test ESMTP"], await outsider.ReadReplyAsync());
            await outsider.CommandAsync("EHLO outsider.test");
            Assert.Equal("530 5.7.0 Authentication required", await outsider.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
        }

        await using var insider = await server.ConnectRawAsync();
        // The header and the first command may share a packet.
        await insider.SendAsync("PROXY TCP4 10.1.2.3 10.0.0.1 5555 25\r\n");
        Assert.Equal(["220 mx.test ESMTP"], await insider.ReadReplyAsync());
        await insider.CommandAsync("EHLO insider.test");
        Assert.Equal("250 2.0.0 Sender OK", await insider.CommandLastLineAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal(IPAddress.Parse("10.1.2.3"), Assert.Single(server.Handler.RemoteAddresses));
    }

    [Theory]
    [InlineData("EHLO direct.test\r\n")]
    [InlineData("PROXY TCP4 10.1.2.3 10.0.0.1 5555\r\n")]
    [InlineData("GET / HTTP/1.1\r\n")]
    public async Task Without_a_valid_header_the_connection_is_closed_without_a_word(string first)
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { ProxyProtocol = true, ProxyProtocolFrom = [Loopback] });
        await using var client = await server.ConnectRawAsync();
        await client.SendAsync(first);
        Assert.Null(await client.ReadLineAsync());
        Assert.Empty(server.Handler.ReversePaths);
    }

    [Fact]
    public async Task A_client_that_sends_nothing_is_closed_after_the_command_timeout()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { ProxyProtocol = true, ProxyProtocolFrom = [Loopback], CommandTimeout = TimeSpan.FromMilliseconds(300) });
        await using var client = await server.ConnectRawAsync();
        Assert.Null(await client.ReadLineAsync());
    }
}
