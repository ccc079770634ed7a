using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using ManycoreMail.Hosting;
using ManycoreMail.TestSupport;
using Xunit.Abstractions;

namespace ManycoreMail.IntegrationTests;

/// <summary>
/// Postfix's smtp-source against the receiver role alone: 50 concurrent sessions from a trusted network send
/// 20,000 messages; every one must be in the spool, none twice. The throughput is printed, never asserted
/// (bench/submission.sh measures it properly).
/// </summary>
public sealed partial class SubmissionLoadTests(ITestOutputHelper output) : IDisposable
{
    private const int Messages = 20_000;
    private const int Sessions = 50;

    private readonly TestWorld _world = new();

    [Fact]
    public async Task Smtp_source_with_50_sessions_puts_20000_messages_in_the_spool_exactly_once()
    {
        // Nobody takes the messages out of the spool here, so flow control would hold every one past the 100th for its
        // second (as Postfix's in_flow_delay would): this test is about the spool, so it is off.
        var config = new MailerConfig(_world, "http://127.0.0.1:9/unused")
        {
            TrustedNetworks = "[127.0.0.0/8]",
            ReceiverExtra = "  in-flow-delay-seconds: 0",
        }.Write();
        await using var mailer = await RunningMailer.StartAsync(config, [RoleNames.Receiver]);

        var messageFile = Path.Combine(config.Directory, "load.eml");
        // LF line ends: smtp-source -F sends every line with CR LF itself.
        var body = string.Concat(Enumerable.Repeat(new string('x', 76) + "\n", 12));
        await File.WriteAllTextAsync(messageFile, $"From: load@sender.test\nTo: someone@ok.test\nSubject: load\nX-Uuid: load0001\n\n{body}");

        var clock = Stopwatch.StartNew();
        var (exitCode, text) = await PeerProcess.RunAsync(
            "/usr/sbin/smtp-source",
            ["-s", Sessions.ToString(CultureInfo.InvariantCulture), "-m", Messages.ToString(CultureInfo.InvariantCulture),
             "-F", messageFile, "-f", "load@sender.test", "-t", "someone@ok.test", $"127.0.0.1:{config.ReceiverPort}"],
            TimeSpan.FromMinutes(3));
        clock.Stop();
        Assert.True(exitCode == 0, "smtp-source failed:\n" + text);

        // Every 250 was said after the message was durable, so the count is final when smtp-source is done.
        var metrics = await mailer.MetricsAsync();
        var queued = Gauge(metrics, "default_queue_messages") + Gauge(metrics, "primary_queue_messages");
        Assert.Equal(Messages, queued);
        Assert.Equal(Messages, Gauge(metrics, "nbr_emails_enqueued_total"));
        Assert.Equal(0, Gauge(metrics, "nbr_dropped_emails_total"));
        output.WriteLine($"{Messages} messages of {new FileInfo(messageFile).Length} bytes, {Sessions} sessions: {clock.Elapsed.TotalSeconds:0.00} s, {Messages / clock.Elapsed.TotalSeconds:0} msg/s accepted");
    }

    private static long Gauge(string metrics, string name)
    {
        var match = Regex.Match(metrics, $@"^{name}(\{{[^}}]*\}})? (?<value>[0-9.e+]+)$", RegexOptions.Multiline);
        Assert.True(match.Success, $"metric {name} missing in:\n{metrics}");
        return (long)double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
    }

    public void Dispose() => _world.Dispose();
}
