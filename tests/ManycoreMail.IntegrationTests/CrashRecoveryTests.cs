using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>The durability promise: what was answered 250 survives kill -9 and is delivered once.</summary>
public sealed class CrashRecoveryTests(TestWorld world) : IClassFixture<TestWorld>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Message_acknowledged_before_kill_9_is_delivered_once_after_restart()
    {
        using var sink = await world.StartSinkAsync("crash.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        var uuid = Messages.NewUuid();

        // First life: only the receivers run, so the acknowledged message can only be in the spool.
        using (var first = StartMailer(config, "--roles", "receiver,http-receiver"))
        {
            await WaitForPortAsync(config.Receiver, first);
            var (code, output) = await Swaks.SendAsync(config.Receiver, Messages.Simple(uuid, "survivor@crash.test"), Swaks.TlsAuth);
            Assert.True(code == 0, output + first.Output);
            Assert.Contains("250 2.0.0", output);
            first.Kill();
        }
        Assert.Empty(sink.Messages());

        // Second life: every role; the message must come out of the spool and be delivered, once.
        using var second = StartMailer(config);
        var delivered = await webhook.WaitForAsync(e => (string?)e["uuid"] == uuid, Patience, "delivered event after restart");
        Assert.Equal("delivered", (string?)delivered["event"]);
        var messages = await sink.WaitForMessagesAsync(1, Patience);
        Assert.Single(messages);
        Assert.Equal(["survivor@crash.test"], messages[0].Recipients);
        Assert.Single(webhook.Events, e => (string?)e["uuid"] == uuid);
    }

    private static PeerProcess StartMailer(MailerConfig config, params string[] extra)
    {
        var mailer = Path.Combine(AppContext.BaseDirectory, "mailer.dll");
        Assert.True(File.Exists(mailer), "mailer.dll is not beside the tests: " + mailer);
        var arguments = new List<string> { mailer, "run", "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile };
        arguments.AddRange(extra);
        return PeerProcess.Start("dotnet", arguments, config.Directory);
    }

    private static Task WaitForPortAsync(System.Net.IPEndPoint endPoint, PeerProcess process) =>
        Eventually.TrueAsync(() =>
        {
            Assert.False(process.HasExited, "mailer exited: " + process.Output);
            try
            {
                using var client = new System.Net.Sockets.TcpClient();
                client.Connect(endPoint);
                return true;
            }
            catch (System.Net.Sockets.SocketException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), $"mailer listening on {endPoint}");
}
