using System.Net;
using ManycoreMail.Config;

namespace ManycoreMail.Tests;

/// <summary>The listener keys of the receiver, mxserver and httpreceiver sections: PROXY sources, session
/// lifetime, data rate and the memory of bodies being received.</summary>
public sealed class ListenerConfigTests
{
    private static string Customer(string receiverKeys, string mxKeys = "", string httpKeys = "") => $"""
        sender:
          helo-name: mailer.example.com
        httpreceiver:
          bind:
            inet-interface: 127.0.0.1
            inet-port: 8080
            inet-port-metrics: 9090
          auth-logins:
            - username: admin
              password: secret
        {httpKeys}
        receiver:
          bind:
            inet-interface: 127.0.0.1
            inet-port: 587
        {receiverKeys}
        mxserver:
          bind:
            inet-interface: 127.0.0.1
            inet-port: 2525
          eml-directory: /tmp/eml
        {mxKeys}
        """;

    private static ConfigException Refused(string customer) =>
        Assert.Throws<ConfigException>(() => ConfigLoader.Parse(MinimalGlobalConfig.Yaml, customer, "g.yaml", "c.yaml"));

    [Fact]
    public void Proxy_protocol_without_its_sources_is_refused_naming_file_and_key()
    {
        var error = Refused(Customer("  proxy-protocol: true", "  proxy-protocol: true\n  proxy-protocol-from: []"));

        Assert.Contains(error.Problems, p => p.StartsWith("c.yaml: receiver/proxy-protocol-from: is required when proxy-protocol is true", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.StartsWith("c.yaml: mxserver/proxy-protocol-from: must name at least one network", StringComparison.Ordinal));
    }

    [Fact]
    public void A_proxy_source_that_is_no_network_is_refused()
    {
        var error = Refused(Customer("  proxy-protocol: true\n  proxy-protocol-from: [10.0.0.0/8, load-balancer]"));

        Assert.Contains("c.yaml: receiver/proxy-protocol-from: 'load-balancer' is not a network in CIDR form (like 127.0.0.0/8)", error.Problems);
    }

    [Fact]
    public void Listener_keys_are_read_for_each_listener()
    {
        var loaded = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Customer(
            "  proxy-protocol: true\n  proxy-protocol-from: [10.0.0.0/8, 2001:db8::7]\n  max-session-seconds: 600\n"
            + "  min-data-rate: 500\n  min-data-rate-window-seconds: 10\n  max-receiving-megabytes: 64",
            "  max-receiving-megabytes: 128\n  min-data-rate: 0",
            "  max-receiving-megabytes: 100"));
        var receiver = loaded.Options.Receiver!.Listener;
        var mx = loaded.Options.MxServer!.Listener;

        Assert.Equal([IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("2001:db8::7/128")], receiver.ProxyProtocolFrom);
        Assert.Equal(TimeSpan.FromMinutes(10), receiver.MaxSessionLifetime);
        Assert.Equal(500, receiver.MinDataRate);
        Assert.Equal(TimeSpan.FromSeconds(10), receiver.DataRateWindow);
        Assert.Equal(64L << 20, receiver.MaxReceivingBytes);
        Assert.Equal(128L << 20, mx.MaxReceivingBytes);
        Assert.Equal(0, mx.MinDataRate);
        Assert.Equal(TimeSpan.FromMinutes(30), mx.MaxSessionLifetime);
        Assert.Equal(100L << 20, loaded.Options.HttpReceiver!.MaxReceivingBytes);
        Assert.DoesNotContain(loaded.Warnings, w => w.Contains("unknown key", StringComparison.Ordinal));
    }

    [Fact]
    public void By_default_the_receiving_memory_is_256_MB_and_always_holds_one_largest_message()
    {
        const string large = "  max-message-size: 419430400"; // 400 MB: larger than the 256 MB default
        var loaded = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Customer(large, mxKeys: "", httpKeys: large));

        Assert.Equal(400L << 20, loaded.Options.Receiver!.Listener.MaxReceivingBytes);
        Assert.Equal(400L << 20, loaded.Options.HttpReceiver!.MaxReceivingBytes);
        Assert.Equal(256L << 20, loaded.Options.MxServer!.Listener.MaxReceivingBytes);
    }

    [Fact]
    public void A_receiving_cap_smaller_than_one_message_is_refused()
    {
        var error = Refused(Customer("  max-message-size: 10485760\n  max-receiving-megabytes: 5", httpKeys: "  max-receiving-megabytes: 0"));

        Assert.Contains("c.yaml: receiver/max-receiving-megabytes: 5 MB cannot hold one message of max-message-size", error.Problems);
        Assert.Contains(error.Problems, p => p.StartsWith("c.yaml: httpreceiver/max-receiving-megabytes: 0 is out of range", StringComparison.Ordinal));
    }

    [Fact]
    public void In_flow_keys_are_read_for_each_receiver_with_their_defaults()
    {
        var defaults = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Customer(""), "g.yaml", "c.yaml").Options;
        var loaded = ConfigLoader.Parse(MinimalGlobalConfig.Yaml, Customer("  in-flow-delay-seconds: 0\n  in-flow-queue-megabytes: 0",
                httpKeys: "  in-flow-delay-seconds: 3\n  in-flow-queue-depth: 50\n  in-flow-queue-megabytes: 16"),
            "g.yaml", "c.yaml").Options;

        Assert.Equal(InFlowSettings.Default, defaults.Receiver!.InFlow);
        Assert.Equal(InFlowSettings.Default, defaults.HttpReceiver!.InFlow);
        Assert.True(defaults.Receiver.InFlow.Enabled);
        Assert.False(loaded.Receiver!.InFlow.Enabled);
        Assert.Equal(InFlowSettings.DefaultQueueDepth, loaded.Receiver.InFlow.QueueDepth);
        Assert.Equal(4L * 1024 * 1024, defaults.Receiver.InFlow.QueueBytes);
        Assert.Equal(0, loaded.Receiver.InFlow.QueueBytes);
        Assert.Equal(new InFlowSettings(TimeSpan.FromSeconds(3), 50, 16L * 1024 * 1024), loaded.HttpReceiver!.InFlow);
    }

    [Fact]
    public void Bad_in_flow_keys_are_refused_naming_file_and_key()
    {
        var error = Refused(Customer("  in-flow-delay-seconds: -1\n  in-flow-queue-depth: 0\n  in-flow-queue-megabytes: -4",
            httpKeys: "  in-flow-delay-seconds: 1.5\n  in-flow-queue-depth: many\n  in-flow-queue-megabytes: 4MB"));

        Assert.Contains("c.yaml: receiver/in-flow-delay-seconds: -1 is out of range (0..60)", error.Problems);
        Assert.Contains(error.Problems, p => p.StartsWith("c.yaml: receiver/in-flow-queue-depth: 0 is out of range", StringComparison.Ordinal));
        Assert.Contains("c.yaml: httpreceiver/in-flow-delay-seconds: '1.5' is not a whole number", error.Problems);
        Assert.Contains("c.yaml: httpreceiver/in-flow-queue-depth: 'many' is not a whole number", error.Problems);
        Assert.Contains(error.Problems, p => p.StartsWith("c.yaml: receiver/in-flow-queue-megabytes: -4 is out of range", StringComparison.Ordinal));
        Assert.Contains("c.yaml: httpreceiver/in-flow-queue-megabytes: '4MB' is not a whole number", error.Problems);
    }
}
