using System.CommandLine;
using System.Net;
using System.Text;
using ManycoreMail.Cli;
using ManycoreMail.Config;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.Roles.Backdata;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.IntegrationTests;

/// <summary>Backdata against a real HTTP webhook: a redirect is not a delivery, and an event that cannot be posted
/// as it is goes to dead-letter without holding up the others; <c>mailer events dead-letters</c> lists and replays.</summary>
public sealed class BackdataDeliveryTests(TestWorld world) : IClassFixture<TestWorld>
{
    private const string EventsQueue = "EVENT_QUEUE";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_webhook_answering_302_gets_the_events_again_until_it_answers_200()
    {
        using var webhook = new WebhookListener { FailWith = HttpStatusCode.Found };
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var spool = await OpenSpoolAsync(config);
        await spool.EnqueueAsync(EventsQueue, Event("redirected"), CancellationToken.None);

        await using (await StartBackdataAsync(spool, webhook))
        {
            await Eventually.TrueAsync(() => webhook.Requests >= 2, Patience, "the event posted again after the 302");
            Assert.Empty(webhook.Events);
            Assert.Equal(1, await spool.CountAsync(EventsQueue, CancellationToken.None));

            webhook.FailWith = null;
            await webhook.WaitForAsync(e => (string?)e["uuid"] == "redirected", Patience, "the event delivered once the webhook answers 200");
        }
        Assert.Equal(0, await spool.CountAsync(EventsQueue, CancellationToken.None));
    }

    [Fact]
    public async Task Unpostable_events_go_to_dead_letter_the_good_ones_are_delivered_and_the_command_lists_and_replays_them()
    {
        using var webhook = new WebhookListener { Refuse = e => (string?)e["uuid"] == "refused" };
        var config = new MailerConfig(world, webhook.Url).Write();
        var spool = await OpenSpoolAsync(config);
        try
        {
            await spool.EnqueueAsync(EventsQueue, Event("good1"), CancellationToken.None);
            await spool.EnqueueAsync(EventsQueue, Event("refused"), CancellationToken.None);
            // Not UTF-8 inside a string: no webhook could be sent this as JSON.
            await spool.EnqueueAsync(EventsQueue, new QueueItem(new MessageEnvelope { Uuid = "broken" },
                (byte[])[.. """{"event":"delivered","uuid":"broken-"""u8, 0xFF, 0xFE, .. "\"}"u8]), CancellationToken.None);
            await spool.EnqueueAsync(EventsQueue, Event("good2"), CancellationToken.None);

            await using (await StartBackdataAsync(spool, webhook))
            {
                await webhook.WaitForAsync(e => (string?)e["uuid"] == "good2", Patience, "good2 delivered");
                await webhook.WaitForAsync(e => (string?)e["uuid"] == "good1", Patience, "good1 delivered");
                await Eventually.TrueAsync(async () => (await spool.ReadDeadLettersAsync(EventsQueue, 10, CancellationToken.None)).Count == 2, Patience, "two dead letters");
            }
            Assert.Equal(0, await spool.CountAsync(EventsQueue, CancellationToken.None));

            // Listed beside the open spool (as beside a running mailer).
            var (listCode, listed, _) = await CliAsync("events", "dead-letters", "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile);
            Assert.Equal(0, listCode);
            var lines = listed.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(2, lines.Length);
            Assert.Contains("refused", lines[0]);
            Assert.Contains("the webhook refused this event on its own (422)", lines[0]);
            Assert.Contains("body-base64", lines[1]);

            // A replay needs the spool to itself.
            var (busyCode, _, busy) = await CliAsync("events", "dead-letters", "--replay", "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile);
            Assert.Equal(1, busyCode);
            Assert.Contains("stop the mailer first", busy);
            await spool.DisposeAsync();

            var (replayCode, replayed, errors) = await CliAsync("events", "dead-letters", "--replay", "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile);
            Assert.True(replayCode == 0, replayed + errors);
            Assert.Contains("2 event(s) put back on EVENT_QUEUE", replayed);

            webhook.Refuse = null;
            spool = await OpenSpoolAsync(config);
            await using (await StartBackdataAsync(spool, webhook))
            {
                await webhook.WaitForAsync(e => (string?)e["uuid"] == "refused", Patience, "the replayed event delivered");
                await Eventually.TrueAsync(async () => (await spool.ReadDeadLettersAsync(EventsQueue, 10, CancellationToken.None)).Count == 1, Patience, "the broken event dead again");
            }
            Assert.Equal(1, webhook.Events.Count(e => (string?)e["uuid"] == "good1"));
        }
        finally
        {
            await spool.DisposeAsync();
        }
    }

    private static QueueItem Event(string uuid) =>
        new(new MessageEnvelope { Uuid = uuid }, Encoding.UTF8.GetBytes($$"""{"event":"delivered","uuid":"{{uuid}}","timestamp":1,"ip":"127.0.0.1"}"""));

    private static ValueTask<EmbeddedSpool> OpenSpoolAsync(MailerConfig config) =>
        EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(config.StoragePath, "spool") }, TimeProvider.System, CancellationToken.None);

    private static async Task<RunningRole> StartBackdataAsync(IQueueStore store, WebhookListener webhook)
    {
        var backdata = new BackdataRole(store, new QueueNames("P0", "P1", "OUT", EventsQueue),
            new BackdataOptions { PostUrl = new Uri(webhook.Url), MaxRetryDelay = TimeSpan.FromSeconds(1) },
            new MetricsRegistry(), TimeProvider.System, NullLogger<BackdataRole>.Instance);
        var role = backdata.AsRole();
        await role.StartAsync(CancellationToken.None);
        return new RunningRole(backdata, role);
    }

    private static async Task<(int Code, string Output, string Errors)> CliAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await MailerCli.Build().Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = errors });
        return (code, output.ToString(), errors.ToString());
    }

    private sealed class RunningRole(BackdataRole backdata, Hosting.IMailerRole role) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            using var deadline = new CancellationTokenSource(Patience);
            await role.StopAsync(deadline.Token);
            backdata.Dispose();
        }
    }
}
