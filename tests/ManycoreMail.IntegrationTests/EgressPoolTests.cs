using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ManycoreMail.Delivery;
using ManycoreMail.Queue;
using ManycoreMail.Roles.Sender;
using ManycoreMail.Smtp;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.IntegrationTests;

/// <summary>Egress pools, warm-up and adaptive shaping against real peers: two sources on loopback (127.0.0.2 and
/// 127.0.0.3, each with its own HELO name) and MX servers that record the address and HELO of every session.</summary>
public sealed class EgressPoolTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly EgressSource S1 = new("s1", IPAddress.Parse("127.0.0.2"), "a.egress.test");
    private static readonly EgressSource S2 = new("s2", IPAddress.Parse("127.0.0.3"), "b.egress.test");
    private static readonly string[] Dns =
    [
        "mx-host=pools.test,mx.pools.test,10", "host-record=mx.pools.test,127.0.0.61",
        // A gmail.com-like site: its MX name makes it the gmail provider of the shipped rules.
        "mx-host=gmailish.test,aspmx.l.google.com,10", "host-record=aspmx.l.google.com,127.0.0.62",
    ];

    [Fact]
    public async Task Each_message_goes_from_the_pool_its_campaign_tenant_or_return_path_domain_selects()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        var server = harness.StartServer("127.0.0.61", new ScriptedHandler());
        var egress = new EgressOptions([new EgressPool("warm", [S1]), new EgressPool("fresh", [S2])],
            [new PoolSelectionRule("fresh", Campaign: "spring"), new PoolSelectionRule("fresh", Tenant: "acme"), new PoolSelectionRule("warm", FromDomain: "news.example")],
            "fresh");
        await harness.StartSenderAsync(o => o with { Delivery = o.Delivery with { Egress = egress } });

        await EnqueueAsync(harness, "campaign@pools.test", campaign: "spring", returnPath: "b@news.example");
        await EnqueueAsync(harness, "tenant@pools.test", tenant: "acme");
        await EnqueueAsync(harness, "domain@pools.test", returnPath: "b@news.example");
        await EnqueueAsync(harness, "default@pools.test");
        await Eventually.GetAsync(() => Task.FromResult(server.Handler.Delivered.Count >= 4 ? "all" : null), Deadline, "four deliveries");

        var seen = server.Handler.Delivered.ToDictionary(d => d.Recipient, d => (d.Session.RemoteEndPoint.Address.ToString(), d.Session.HeloName));
        // The campaign rule comes first, so it wins over the return path's domain.
        Assert.Equal(("127.0.0.3", "b.egress.test"), seen["campaign@pools.test"]);
        Assert.Equal(("127.0.0.3", "b.egress.test"), seen["tenant@pools.test"]);
        Assert.Equal(("127.0.0.2", "a.egress.test"), seen["domain@pools.test"]);
        Assert.Equal(("127.0.0.3", "b.egress.test"), seen["default@pools.test"]);
        await harness.MetricsContainingAsync("sender_source_deliveries_total{pool=\"fresh\",source=\"s2\"} 3", "delivered_total{site=\"mx.pools.test@s1\"} 1");
    }

    [Fact]
    public async Task Sources_share_a_pool_in_the_ratio_of_their_weights()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        var server = harness.StartServer("127.0.0.61", new ScriptedHandler());
        var egress = new EgressOptions([new EgressPool("p", [S1 with { Weight = 3 }, S2])], [], "p");
        await harness.StartSenderAsync(o => o with { Delivery = o.Delivery with { Egress = egress } });

        var byHelo = await DeliverManyAsync(harness, server, 8);

        // Smooth weighted round robin is exact over whole rounds: 8 picks at 3:1 are 6 and 2, in whatever order they ran.
        Assert.Equal(6, byHelo["a.egress.test"]);
        Assert.Equal(2, byHelo["b.egress.test"]);
        Assert.All(server.Handler.Delivered, d => Assert.Equal(d.Session.HeloName == "a.egress.test" ? "127.0.0.2" : "127.0.0.3", d.Session.RemoteEndPoint.Address.ToString()));
    }

    [Fact]
    public async Task A_warming_source_at_its_cap_overflows_to_a_warm_one()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        var server = harness.StartServer("127.0.0.61", new ScriptedHandler());
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var warming = S1 with { Weight = 10, WarmUp = new WarmUpSchedule(today, [new WarmUpStep(1, 2)]) };
        var egress = new EgressOptions([new EgressPool("p", [warming, S2])], [], "p");
        await harness.StartSenderAsync(o => o with { Delivery = o.Delivery with { Egress = egress } });

        var byHelo = await DeliverManyAsync(harness, server, 5);

        Assert.Equal(2, byHelo["a.egress.test"]);
        Assert.Equal(3, byHelo["b.egress.test"]);
        var metrics = await harness.MetricsTextAsync();
        Assert.Contains("sender_warmup_sent{source=\"s1\",provider=\"other\"} 2", metrics);
        Assert.Contains("sender_warmup_cap{source=\"s1\",provider=\"other\"} 2", metrics);
    }

    [Fact]
    public async Task When_every_source_is_at_its_cap_the_recipient_waits_for_the_next_day_without_an_attempt()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        var server = harness.StartServer("127.0.0.61", new ScriptedHandler());
        var clock = new ShiftedClock();
        var today = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        var warming = S1 with { WarmUp = new WarmUpSchedule(today, [new WarmUpStep(1, 2), new WarmUpStep(2, 3)]) };
        var egress = new EgressOptions([new EgressPool("p", [warming])], [], "p");
        // A queue lifetime past the next midnight: a wait beyond it would bounce the recipient as expired.
        await harness.StartSenderAsync(o => o with { MaxQueueLifetime = TimeSpan.FromDays(2), Delivery = o.Delivery with { Egress = egress } }, clock);

        for (var i = 0; i < 3; i++)
        {
            await EnqueueAsync(harness, $"c{i}@pools.test");
        }
        var waiting = await Eventually.GetAsync(() => Task.FromResult(harness.Role!.Ledger.Entries.FirstOrDefault(e => e.State == LedgerState.Deferred)),
            Deadline, "a recipient waiting for the next day");
        await Eventually.GetAsync(() => Task.FromResult(server.Handler.Delivered.Count >= 2 ? "two" : null), Deadline, "two deliveries");

        var midnight = new DateTimeOffset(today.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        Assert.Equal(midnight, waiting.RetryAt);
        Assert.Equal(1, waiting.UncountedAttempts);
        Assert.Contains("warm-up cap", waiting.LastError);
        Assert.Equal(2, server.Handler.Delivered.Count);

        // The next day (for the sender) the cap starts again, at day 2's figure.
        clock.Advance(midnight - clock.GetUtcNow() + TimeSpan.FromMinutes(1));
        await EnqueueAsync(harness, "nextday@pools.test");
        await Eventually.GetAsync(() => Task.FromResult(server.Handler.Delivered.Any(d => d.Recipient == "nextday@pools.test") ? "delivered" : null), Deadline, "the next day's delivery");
        var metrics = await harness.MetricsTextAsync();
        Assert.Contains("sender_warmup_sent{source=\"s1\",provider=\"other\"} 1", metrics);
        Assert.Contains("sender_warmup_cap{source=\"s1\",provider=\"other\"} 3", metrics);
    }

    [Fact]
    public void Warm_up_counts_survive_a_restart_in_the_storage_directory()
    {
        var directory = Path.Combine(Path.GetTempPath(), "mm-warmup-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            var today = DateOnly.FromDateTime(DateTime.UtcNow);
            var warming = S1 with { WarmUp = new WarmUpSchedule(today, [new WarmUpStep(1, 2)]) };
            using (var store = SqliteWarmUpStore.Open(directory, today))
            {
                Assert.True(new WarmUpLedger(store, TimeProvider.System).TryReserve(warming, "gmail", 2));
            }
            using var reopened = SqliteWarmUpStore.Open(directory, today);
            var ledger = new WarmUpLedger(reopened, TimeProvider.System);

            Assert.False(ledger.HasRoom(warming, "gmail", 1));
            Assert.True(ledger.HasRoom(warming, "yahoo", 1));
            Assert.True(File.Exists(Path.Combine(directory, SqliteWarmUpStore.FileName)));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_gmail_421_4_7_28_suspends_the_site_with_a_warning_and_a_metric_and_site_resume_lifts_it()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        var server = harness.StartServer("127.0.0.62", new ScriptedHandler((recipient, _) => recipient.StartsWith("first", StringComparison.Ordinal)
            ? new SmtpReply(421, "4.7.28", "Our system has detected an unusual rate of unsolicited mail originating from your IP address.")
            : SmtpReply.Ok()));
        var log = new CapturingLogger();
        var egress = new EgressOptions([new EgressPool("p", [S1])], [], "p");
        await harness.StartSenderAsync(o => o with { Delivery = o.Delivery with { Egress = egress } }, engineLogger: log);
        const string token = "egress-admin-token-0123456789";
        var admin = await harness.StartAdminAsync(token);

        await EnqueueAsync(harness, "first@gmailish.test");
        var line = await Eventually.GetAsync(() => Task.FromResult(log.Lines.FirstOrDefault(l => l.Contains("Adaptive shaping", StringComparison.Ordinal))),
            Deadline, "the adaptive shaping line");

        Assert.Contains("gmail-unusual-rate: suspend site aspmx.l.google.com@s1", line);
        Assert.Contains("421 4.7.28", line);
        Assert.Contains("sender_adaptive_actions_total{rule=\"gmail-unusual-rate\",action=\"suspend\"} 1", await harness.MetricsTextAsync());
        using var client = new AdminClient(admin, token);
        var listing = new StringWriter();
        await client.ListAsync(listing, CancellationToken.None);
        Assert.Contains("adaptive: suspend site aspmx.l.google.com@s1", listing.ToString());
        Assert.Contains("s1           127.0.0.2        a.egress.test", listing.ToString());

        // Held: a second message waits for the suspension's end without reaching the server.
        await EnqueueAsync(harness, "held@gmailish.test");
        await Eventually.GetAsync(() => Task.FromResult(harness.Role!.Ledger.Entries.FirstOrDefault(e => e.Uuid == "held@gmailish.test" && e.State == LedgerState.Deferred)),
            Deadline, "the held message deferred");
        Assert.DoesNotContain(server.Handler.Delivered, d => d.Recipient == "held@gmailish.test");

        var resumed = new StringWriter();
        Assert.Equal(0, await client.SendAsync(HttpMethod.Post, "sites/aspmx.l.google.com%40s1/resume", resumed, CancellationToken.None));
        Assert.Contains("adaptive suspension or throttle lifted", resumed.ToString());
        var after = new StringWriter();
        await client.ListAsync(after, CancellationToken.None);
        Assert.DoesNotContain("adaptive:", after.ToString());
        await EnqueueAsync(harness, "after@gmailish.test");
        await Eventually.GetAsync(() => Task.FromResult(server.Handler.Delivered.Any(d => d.Recipient == "after@gmailish.test") ? "delivered" : null), Deadline,
            "a delivery once resumed");
    }

    /// <summary>Sends <paramref name="count"/> messages to pools.test and counts their deliveries by HELO name.</summary>
    private static async Task<Dictionary<string, int>> DeliverManyAsync(DeliveryHarness harness, ScriptedServer server, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await EnqueueAsync(harness, $"m{i}@pools.test");
        }
        await Eventually.GetAsync(() => Task.FromResult(server.Handler.Delivered.Count >= count ? "all" : null), Deadline, $"{count} deliveries");
        return server.Handler.Delivered.GroupBy(d => d.Session.HeloName!).ToDictionary(g => g.Key, g => g.Count());
    }

    private static ValueTask EnqueueAsync(DeliveryHarness harness, string recipient, string? campaign = null, string? tenant = null, string? returnPath = null) =>
        harness.Store.EnqueueAsync(DeliveryHarness.Outbound, new QueueItem(
            new MessageEnvelope { Uuid = recipient, ReturnPath = returnPath ?? "bounce@returns.sender.test", Recipients = [recipient], Campaign = campaign, Tenant = tenant },
            Encoding.ASCII.GetBytes($"From: a@sender.test\r\nTo: {recipient}\r\nSubject: egress\r\n\r\nHello.\r\n")),
            CancellationToken.None);

    /// <summary>The engine's Warning lines, formatted.</summary>
    private sealed class CapturingLogger : ILogger<DeliveryEngine>
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public IReadOnlyList<string> Lines => [.. _lines];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                _lines.Enqueue(formatter(state, exception));
            }
        }
    }
}
