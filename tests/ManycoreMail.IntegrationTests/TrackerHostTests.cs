using System.Net;
using ManycoreMail.Config;
using ManycoreMail.EventStore;
using ManycoreMail.EventStore.Sqlite;
using ManycoreMail.Suppression;
using ManycoreMail.TestSupport;
using ManycoreMail.Tracking;

namespace ManycoreMail.IntegrationTests;

/// <summary>The tracker inside <c>mailer run</c>: its listener in the process's HTTP server, its unsubscribes in the
/// process's suppression list (SQLite in storage/path), its events through backdata into the event store.</summary>
public sealed class TrackerHostTests(TestWorld world) : IClassFixture<TestWorld>
{
    private const string Secret = "tracker host test secret 0123456789";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_one_click_unsubscribe_is_in_the_suppression_list_after_a_restart_and_its_events_in_the_event_store()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        var port = FreePort.Tcp(IPAddress.Loopback);
        File.AppendAllText(config.CustomerFile, $$"""

            tracking:
              bind: {inet-interface: 127.0.0.1, inet-port: {{port}}}
              base-url: https://t.example.com/mail
              secrets: ["{{Secret}}"]
            """);
        var urls = new TrackingUrls("https://t.example.com/mail", new TrackingTokenCodec(new TrackingKeys([Secret])));
        var uuid = Messages.NewUuid();
        string Local(TrackingToken token) => $"http://127.0.0.1:{port}" + new Uri(urls.For(token)).AbsolutePath;
        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false });
        http.DefaultRequestHeaders.UserAgent.ParseAdd("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0");

        await using (var mailer = await RunningMailer.StartAsync(config))
        {
            using (var unsubscribe = await http.PostAsync(Local(TrackingToken.Unsubscribe(uuid, "Reader@Example.com", "domain:sender.test")),
                new FormUrlEncodedContent([new("List-Unsubscribe", "One-Click")])))
            {
                Assert.Equal(HttpStatusCode.OK, unsubscribe.StatusCode);
            }
            using (var pixel = await http.GetAsync(Local(TrackingToken.Open(uuid, "Reader@Example.com") with { IssuedAt = DateTimeOffset.UtcNow.AddHours(-1) })))
            {
                Assert.Equal(HttpStatusCode.OK, pixel.StatusCode);
            }

            var stored = await Eventually.GetAsync(async () =>
                (await SqliteEventStore.QueryFileAsync(EventsOptions.SqlitePath(new StorageOptions(config.StoragePath)), new EventQuery { Uuid = uuid }, CancellationToken.None))
                    .Events is { Count: 2 } both ? both : null, Patience, "the unsubscribe and open events in the event store");
            var kinds = stored.Select(e => System.Text.Json.JsonDocument.Parse(e.Json).RootElement.GetProperty("event").GetString()).ToArray();
            Assert.Equal(new[] { "unsubscribe", "open" }, kinds);
            Assert.Contains("tracker_unsubscribes_total 1", await mailer.MetricsAsync(), StringComparison.Ordinal);
        }

        await using (var again = await RunningMailer.StartAsync(config))
        {
            var found = await again.Host.Suppressions.FindAsync(["reader@example.com"], DateTimeOffset.UtcNow, CancellationToken.None);
            var entry = Assert.Single(found["reader@example.com"]);
            Assert.Equal(SuppressionScope.Domain, entry.Scope);
            Assert.Equal("sender.test", entry.Value);
            Assert.Equal(SuppressionReason.Unsubscribe, entry.Reason);
        }
    }
}
