using System.Net;
using ManycoreMail.Config;
using ManycoreMail.Suppression;
using ManycoreMail.Tracking;

namespace ManycoreMail.Tests;

/// <summary>The <c>tracking</c> and <c>suppression</c> sections, with precise errors that never show a secret.</summary>
public sealed class TrackingConfigTests
{
    private const string Global = """
        reliable-queue:
          queue-names:
            primary-queue: P0
            default-queue: P1
        backdata:
          queue-name: EVENT_QUEUE
        postfix:
          incoming-queue-name: OUT
        """;

    private const string Tracking = """
        tracking:
          bind: {inet-interface: 127.0.0.1, inet-port: 8081}
          base-url: https://t.example.com
          secrets: ["the new tracking key 0123", "the previous tracking key 4567"]

        """;

    [Fact]
    public void Without_sections_nothing_is_tracked_and_every_report_suppresses()
    {
        var options = ConfigLoader.Parse(Global, "").Options;

        Assert.Null(options.Tracking);
        Assert.True(options.Suppression.Adds(SuppressionReason.Unsubscribe));
        Assert.True(options.Suppression.Adds(SuppressionReason.Complaint));
        Assert.True(options.Suppression.Adds(SuppressionReason.Bounce));
    }

    [Fact]
    public void The_issue_example_is_read_with_its_defaults()
    {
        var loaded = ConfigLoader.Parse(Global, Tracking);
        var tracking = Assert.IsType<TrackingOptions>(loaded.Options.Tracking);

        Assert.Empty(loaded.Warnings);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 8081), tracking.Bind);
        Assert.Equal("https://t.example.com", tracking.BaseUrl);
        Assert.True(tracking.Opens && tracking.Clicks && tracking.Unsubscribe);
        Assert.False(tracking.TrackTextLinks);
        Assert.Equal(SuppressionScope.Sender, tracking.UnsubscribeScope);
        // The first secret signs and the second verifies: a token signed with the previous key alone is accepted.
        var previous = new TrackingTokenCodec(new TrackingKeys(["the previous tracking key 4567"]));
        var token = previous.Sign(TrackingToken.Open("abc", "a@example.com"));
        Assert.True(tracking.CreateUrls().TryParsePath("/o/" + token + ".gif", out var back));
        Assert.Equal("a@example.com", back.Recipient);
    }

    [Fact]
    public void Every_switch_and_the_scope_are_read()
    {
        var yaml = Tracking.TrimEnd() + "\n  opens: false\n  clicks: false\n  unsubscribe: false\n  track-text-links: true\n  unsubscribe-scope: tenant\n";
        var tracking = ConfigLoader.Parse(Global, yaml).Options.Tracking!;

        Assert.False(tracking.Opens || tracking.Clicks || tracking.Unsubscribe);
        Assert.True(tracking.TrackTextLinks);
        Assert.Equal(SuppressionScope.Tenant, tracking.UnsubscribeScope);
    }

    [Theory]
    [InlineData("  secrets: [\"short\"]\n", "c.yaml: tracking/secrets: ")]
    [InlineData("  secrets: []\n", "c.yaml: tracking/secrets: needs at least one secret")]
    [InlineData("  unsubscribe-scope: everyone\n", "c.yaml: tracking/unsubscribe-scope: 'everyone' is not a scope")]
    [InlineData("  base-url: ftp://t.example.com\n", "c.yaml: tracking/base-url: ")]
    public void Bad_values_name_file_and_key(string line, string expected)
    {
        var lines = Tracking.Split('\n').Where(l => !l.StartsWith("  " + line.Trim().Split(':')[0] + ":", StringComparison.Ordinal));
        var yaml = string.Join('\n', lines).TrimEnd() + "\n" + line;

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, yaml, "g.yaml", "c.yaml"));

        Assert.Contains(error.Problems, p => p.StartsWith(expected, StringComparison.Ordinal));
        Assert.DoesNotContain(error.Problems, p => p.Contains("short\"", StringComparison.Ordinal) && !p.Contains("secrets:", StringComparison.Ordinal));
    }

    [Fact]
    public void Missing_secrets_and_bind_are_errors()
    {
        var error = Assert.Throws<ConfigException>(() =>
            ConfigLoader.Parse(Global, "tracking:\n  base-url: https://t.example.com\n", "g.yaml", "c.yaml"));

        Assert.Contains(error.Problems, p => p.StartsWith("c.yaml: tracking/secrets: is required", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.StartsWith("c.yaml: tracking/bind: is required", StringComparison.Ordinal));
    }

    [Fact]
    public void A_short_secret_is_named_by_position_not_value()
    {
        var yaml = Tracking.Replace("\"the previous tracking key 4567\"", "\"tiny\"", StringComparison.Ordinal);

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, yaml, "g.yaml", "c.yaml"));

        var problem = Assert.Single(error.Problems, p => p.Contains("tracking/secrets", StringComparison.Ordinal));
        Assert.Contains("2", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("tiny", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Suppression_auto_chooses_the_reports()
    {
        var options = ConfigLoader.Parse(Global, "suppression:\n  auto: [unsubscribe]\n").Options;

        Assert.True(options.Suppression.Adds(SuppressionReason.Unsubscribe));
        Assert.False(options.Suppression.Adds(SuppressionReason.Complaint));
        Assert.False(options.Suppression.Adds(SuppressionReason.Bounce));

        var error = Assert.Throws<ConfigException>(() =>
            ConfigLoader.Parse(Global, "suppression:\n  auto: [unsubscribe, manual, spam]\n", "g.yaml", "c.yaml"));
        Assert.Contains("c.yaml: suppression/auto: 'manual' is not a report that suppresses; use unsubscribe, complaint or bounce", error.Problems);
        Assert.Contains("c.yaml: suppression/auto: 'spam' is not a report that suppresses; use unsubscribe, complaint or bounce", error.Problems);
    }
}
