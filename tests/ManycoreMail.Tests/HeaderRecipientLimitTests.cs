using System.Text;
using ManycoreMail.Config;
using ManycoreMail.Ingress;

namespace ManycoreMail.Tests;

public sealed class HeaderRecipientLimitTests
{
    private static IngressMessage Accept(int distinct)
    {
        var to = string.Join(",\r\n ", Enumerable.Range(0, distinct).Select(i => $"r{i}@e.f").Append("r0@e.f"));
        var message = Encoding.ASCII.GetBytes($"From: a@b.c\r\nTo: {to}\r\nX-Uuid: abc\r\n\r\nx\r\n");
        Assert.True(IngressRules.TryAccept(message, PriorityRule.Lenient, out var accepted, out var refusal), refusal?.Message);
        return accepted;
    }

    [Fact]
    public void Distinct_addresses_up_to_the_limit_pass_and_one_more_is_refused_naming_the_count_and_the_limit()
    {
        Assert.True(HeaderRecipientLimit.Allows(Accept(5), 5, out _));
        Assert.False(HeaderRecipientLimit.Allows(Accept(6), 5, out var refusal));
        Assert.Equal("Too many recipients: the message names 6 addresses in To, Cc and Bcc, at most 5 are allowed", refusal);
    }

    [Fact]
    public void Both_receivers_default_to_1000_and_read_their_own_key()
    {
        var defaults = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Receivers("")).Options;
        var configured = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Receivers("  max-header-recipients: 7\n")).Options;

        Assert.Equal((1000, 1000), (defaults.Receiver!.MaxHeaderRecipients, defaults.HttpReceiver!.MaxHeaderRecipients));
        Assert.Equal((7, 7), (configured.Receiver!.MaxHeaderRecipients, configured.HttpReceiver!.MaxHeaderRecipients));
    }

    private static string Receivers(string extra) => $"""
        httpreceiver:
          bind:
            inet-interface: 127.0.0.1
            inet-port: 8080
            inet-port-metrics: 8081
          auth-logins:
            - username: admin
              password: secret
        {extra}receiver:
          bind:
            inet-interface: 127.0.0.1
            inet-port: 2525
        {extra}
        """;
}
