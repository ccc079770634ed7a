using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ManycoreMail.Cli;
using ManycoreMail.Config;
using ManycoreMail.EventStore;
using ManycoreMail.EventStore.Sqlite;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.Roles.Backdata;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.IntegrationTests;

/// <summary>The event store wired in: backdata keeps every event, <c>GET /v1/events</c> and <c>mailer events</c>
/// read them, across a restart.</summary>
public sealed class EventStoreTests(TestWorld world) : IClassFixture<TestWorld>
{
    private const string EventsQueue = "EVENT_QUEUE";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Delivered_and_bounce_events_reach_the_webhook_and_the_api_and_survive_a_restart()
    {
        using var ok = await world.StartSinkAsync("ok.test");
        using var hard = await world.StartSinkAsync("hard.test", "-f", "rcpt", "-B", "550 5.1.1 No such user here");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        var delivered = Messages.NewUuid();
        var bounced = Messages.NewUuid();
        using var http = new HttpClient();

        await using (await RunningMailer.StartAsync(config))
        {
            var (code, output) = await Swaks.SendAsync(config.Receiver, Messages.Simple(delivered, "Reader <reader@ok.test>", "Cc: second@ok.test\r\n"), Swaks.TlsAuth);
            Assert.True(code == 0, output);
            (code, output) = await Swaks.SendAsync(config.Receiver, Messages.Simple(bounced, "Nobody@hard.test"), Swaks.TlsAuth);
            Assert.True(code == 0, output);
            await Eventually.TrueAsync(() => webhook.Events.Count(e => (string?)e["uuid"] == delivered && (string?)e["event"] == "delivered") == 2, Patience, "two delivered events at the webhook");
            await webhook.WaitForAsync(e => (string?)e["uuid"] == bounced && (string?)e["event"] == "bounce", Patience, "the bounce at the webhook");

            // Stored before it was posted: the API has them as soon as the webhook has.
            var both = await GetAsync(http, config, $"uuid={delivered}");
            Assert.Equal(JsonValueKind.Null, both.GetProperty("next").ValueKind);
            var events = both.GetProperty("events").EnumerateArray().ToArray();
            Assert.Equal(2, events.Length);
            Assert.All(events, e => Assert.Equal("delivered", e.GetProperty("event").GetString()));
            Assert.Equal(["reader@ok.test", "second@ok.test"], events.Select(e => e.GetProperty("email").GetString()).Order());
            Assert.True(events[0].GetProperty("id").GetInt64() < events[1].GetProperty("id").GetInt64(), "oldest first");
            Assert.All(events, e => Assert.Equal("127.0.0.2", e.GetProperty("ip").GetString()));

            // Pagination: one a page, the cursor leads to the second and then to the end.
            var first = await GetAsync(http, config, $"uuid={delivered}&limit=1");
            var next = first.GetProperty("next").GetString();
            Assert.NotNull(next);
            Assert.Equal(events[0].GetProperty("id").GetInt64(), Assert.Single(first.GetProperty("events").EnumerateArray()).GetProperty("id").GetInt64());
            var second = await GetAsync(http, config, $"uuid={delivered}&limit=1&after={Uri.EscapeDataString(next!)}");
            Assert.Equal(events[1].GetProperty("id").GetInt64(), Assert.Single(second.GetProperty("events").EnumerateArray()).GetProperty("id").GetInt64());
            Assert.Equal(JsonValueKind.Null, second.GetProperty("next").ValueKind);

            // Filters: event type, address in any case, time window.
            var bounce = Assert.Single((await GetAsync(http, config, $"event=bounce&email=NOBODY@HARD.TEST")).GetProperty("events").EnumerateArray());
            Assert.Equal(bounced, bounce.GetProperty("uuid").GetString());
            Assert.Empty((await GetAsync(http, config, $"uuid={delivered}&event=bounce")).GetProperty("events").EnumerateArray());
            Assert.Empty((await GetAsync(http, config, $"uuid={delivered}&until=2000-01-01T00:00:00Z")).GetProperty("events").EnumerateArray());
            Assert.Equal(2, (await GetAsync(http, config, $"uuid={delivered}&since=1700000000")).GetProperty("events").GetArrayLength());

            using (var anonymous = await http.GetAsync(EventsUrl(config, $"uuid={delivered}")))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
                Assert.DoesNotContain(delivered, await anonymous.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }
            await AssertBadRequestAsync(http, config, "after=not-a-cursor", "after");
            await AssertBadRequestAsync(http, config, "limit=0", "limit");
            await AssertBadRequestAsync(http, config, "since=yesterday", "since");
            await AssertBadRequestAsync(http, config, "colour=blue", "colour");
        }

        await using (await RunningMailer.StartAsync(config))
        {
            var again = await GetAsync(http, config, $"uuid={delivered}");
            Assert.Equal(2, again.GetProperty("events").GetArrayLength());
        }

        var (cliCode, printed, errors) = await CliAsync("events", "--json", "--uuid", delivered, "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile);
        Assert.True(cliCode == 0, errors);
        var lines = printed.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.All(lines, line =>
        {
            using var json = JsonDocument.Parse(line);
            Assert.Equal(delivered, json.RootElement.GetProperty("uuid").GetString());
            Assert.True(json.RootElement.GetProperty("id").GetInt64() > 0);
        });

        var (tableCode, table, _) = await CliAsync("events", "--event", "bounce", "--uuid", bounced, "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile);
        Assert.Equal(0, tableCode);
        var rows = table.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, rows.Length);
        Assert.StartsWith("        ID", rows[0], StringComparison.Ordinal);
        Assert.Contains(bounced, rows[1], StringComparison.Ordinal);
        Assert.Contains("nobody@hard.test", rows[1], StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Events_are_stored_while_the_webhook_is_down_and_a_retried_batch_is_stored_once()
    {
        using var webhook = new WebhookListener { FailWith = HttpStatusCode.ServiceUnavailable };
        var config = new MailerConfig(world, webhook.Url).Write();
        Directory.CreateDirectory(config.StoragePath);
        var path = Path.Combine(config.StoragePath, EventsOptions.SqliteFileName);
        await using var spool = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(config.StoragePath, "spool") }, TimeProvider.System, CancellationToken.None);
        await using var store = SqliteEventStore.Open(new SqliteEventStoreOptions { Path = path });
        await spool.EnqueueAsync(EventsQueue, Event("kept", """{"event":"delivered","uuid":"kept","timestamp":1700000000,"rcpt":"internal"}"""), CancellationToken.None);
        // Posted (the webhook takes any object, as before) but not stored: the store needs a timestamp.
        await spool.EnqueueAsync(EventsQueue, Event("untimed", """{"event":"delivered","uuid":"untimed"}"""), CancellationToken.None);

        var backdata = new BackdataRole(spool, new QueueNames("P0", "P1", "OUT", EventsQueue),
            new BackdataOptions { PostUrl = new Uri(webhook.Url), MaxRetryDelay = TimeSpan.FromSeconds(1) },
            new MetricsRegistry(), TimeProvider.System, NullLogger<BackdataRole>.Instance, store);
        var role = backdata.AsRole();
        await role.StartAsync(CancellationToken.None);
        try
        {
            var stored = await Eventually.GetAsync(async () => (await store.QueryAsync(new EventQuery(), CancellationToken.None)).Events is { Count: > 0 } some ? some : null,
                Patience, "the event stored while the webhook is down");
            Assert.Empty(webhook.Events);
            await Eventually.TrueAsync(() => webhook.Requests >= 3, Patience, "the batch retried twice");

            webhook.FailWith = null;
            await webhook.WaitForAsync(e => (string?)e["uuid"] == "kept", Patience, "the event posted once the webhook is back");
            await webhook.WaitForAsync(e => (string?)e["uuid"] == "untimed", Patience, "the unstorable event posted all the same");
            await Eventually.TrueAsync(async () => await spool.CountAsync(EventsQueue, CancellationToken.None) == 0, Patience, "the queue emptied");

            var all = (await store.QueryAsync(new EventQuery(), CancellationToken.None)).Events;
            var only = Assert.Single(all);
            Assert.Equal(stored[0].Id, only.Id);
            // Stored as posted: without the internal members.
            Assert.DoesNotContain("rcpt", Encoding.UTF8.GetString(only.Json.Span), StringComparison.Ordinal);
        }
        finally
        {
            using var deadline = new CancellationTokenSource(Patience);
            await role.StopAsync(deadline.Token);
            backdata.Dispose();
        }
    }

    [Fact]
    public async Task Retention_deletes_the_events_older_than_the_configured_days_only()
    {
        var directory = Directory.CreateTempSubdirectory();
        try
        {
            await using var store = SqliteEventStore.Open(new SqliteEventStoreOptions { Path = Path.Combine(directory.FullName, "events.db") });
            var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            var old = now - (long)TimeSpan.FromDays(11).TotalSeconds;
            await store.AppendAsync([Input("old", old), Input("new", now)], CancellationToken.None);

            var retention = new EventRetention(store, TimeSpan.FromDays(10), TimeProvider.System, NullLogger<EventRetention>.Instance);
            Assert.Equal(1, await retention.PurgeOnceAsync(CancellationToken.None));

            var left = Assert.Single((await store.QueryAsync(new EventQuery(), CancellationToken.None)).Events);
            Assert.Contains("\"new\"", Encoding.UTF8.GetString(left.Json.Span), StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task The_cli_follows_new_events_as_they_are_stored_until_cancelled()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        Directory.CreateDirectory(config.StoragePath);
        await using var store = SqliteEventStore.Open(new SqliteEventStoreOptions { Path = Path.Combine(config.StoragePath, EventsOptions.SqliteFileName) });
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await store.AppendAsync([Input("followfirst", now)], CancellationToken.None);
        // The command writes from its own task while the test reads what it wrote: the synchronised writer locks
        // itself for every write, so reading under the same lock sees whole lines.
        using var written = new StringWriter();
        var output = TextWriter.Synchronized(written);
        string Printed()
        {
            lock (output)
            {
                return written.ToString();
            }
        }
        using var errors = new StringWriter();
        using var stop = new CancellationTokenSource();

        var following = MailerCli.Build()
            .Parse(["events", "--follow", "--json", "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile])
            .InvokeAsync(new InvocationConfiguration { Output = output, Error = errors }, stop.Token);
        await Eventually.TrueAsync(() => Printed().Contains("followfirst", StringComparison.Ordinal), Patience, "the stored event printed");
        await store.AppendAsync([Input("followsecond", now)], CancellationToken.None);
        await Eventually.TrueAsync(() => Printed().Contains("followsecond", StringComparison.Ordinal), Patience, "the new event printed");
        await stop.CancelAsync();
        await following.WaitAsync(Patience);

        Assert.Equal(0, await following);
        var lines = Printed().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // Each event once, in the order stored, each as JSON with its id.
        Assert.Equal(["followfirst", "followsecond"], lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("uuid").GetString()));
        Assert.True(JsonDocument.Parse(lines[1]).RootElement.GetProperty("id").GetInt64() > JsonDocument.Parse(lines[0]).RootElement.GetProperty("id").GetInt64());
    }

    private static StoredEventInput Input(string uuid, long timestamp) =>
        StoredEventInput.FromJson(Encoding.UTF8.GetBytes($$"""{"event":"delivered","uuid":"{{uuid}}","timestamp":{{timestamp}}}"""));

    private static QueueItem Event(string uuid, string json) => new(new MessageEnvelope { Uuid = uuid }, Encoding.UTF8.GetBytes(json));

    private static string EventsUrl(MailerConfig config, string query) => $"http://127.0.0.1:{config.HttpPort}/v1/events?{query}";

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, MailerConfig config, string query)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, EventsUrl(config, query));
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:secret")));
        return await http.SendAsync(request);
    }

    private static async Task<JsonElement> GetAsync(HttpClient http, MailerConfig config, string query)
    {
        using var response = await SendAsync(http, config, query);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(body);
        return json.RootElement.Clone();
    }

    private static async Task AssertBadRequestAsync(HttpClient http, MailerConfig config, string query, string parameter)
    {
        using var response = await SendAsync(http, config, query);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(parameter, body, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Output, string Errors)> CliAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await MailerCli.Build().Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = errors });
        return (code, output.ToString(), errors.ToString());
    }
}
