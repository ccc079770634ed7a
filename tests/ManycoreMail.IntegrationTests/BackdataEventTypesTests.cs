using System.Text;
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

/// <summary>Backdata against a real webhook listener and the SQLite event store: every event is stored, the webhook
/// gets the original's kinds plus those <c>backdata/event-types</c> lists, and an event it does not get leaves the
/// queue all the same (neither retried nor dead-lettered).</summary>
public sealed class BackdataEventTypesTests
{
    private const string EventsQueue = "EVENT_QUEUE";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly string[] Kinds = ["delivered", "deferred", "open", "click", "suppressed", "bounce", "unsubscribe", "spam-report"];

    [Theory]
    [InlineData(new string[0], new[] { "bounce", "delivered", "spam-report", "unsubscribe" })]
    [InlineData(new[] { "deferred", "open" }, new[] { "bounce", "deferred", "delivered", "open", "spam-report", "unsubscribe" })]
    [InlineData(new[] { "deferred", "open", "click", "suppressed" }, new[] { "bounce", "click", "deferred", "delivered", "open", "spam-report", "suppressed", "unsubscribe" })]
    public async Task The_webhook_sees_exactly_the_listed_kinds_and_the_store_has_every_event(string[] eventTypes, string[] posted)
    {
        using var webhook = new WebhookListener();
        var directory = Directory.CreateTempSubdirectory("mm-event-types-");
        try
        {
            await using var spool = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(directory.FullName, "spool") }, TimeProvider.System, CancellationToken.None);
            await using var store = SqliteEventStore.Open(new SqliteEventStoreOptions { Path = Path.Combine(directory.FullName, EventsOptions.SqliteFileName) });
            foreach (var kind in Kinds)
            {
                await spool.EnqueueAsync(EventsQueue, new QueueItem(new MessageEnvelope { Uuid = kind },
                    Encoding.UTF8.GetBytes($$"""{"event":"{{kind}}","uuid":"{{kind}}","timestamp":1700000000,"email":"a@ok.test"}""")), CancellationToken.None);
            }
            var backdata = new BackdataRole(spool, new QueueNames("P0", "P1", "OUT", EventsQueue),
                new BackdataOptions { PostUrl = new Uri(webhook.Url), MaxRetryDelay = TimeSpan.FromSeconds(1), EventTypes = eventTypes.ToHashSet() },
                new MetricsRegistry(), TimeProvider.System, NullLogger<BackdataRole>.Instance, store);
            var role = backdata.AsRole();
            await role.StartAsync(CancellationToken.None);
            try
            {
                await Eventually.TrueAsync(async () => await spool.CountAsync(EventsQueue, CancellationToken.None) == 0, Patience, "every event settled");
            }
            finally
            {
                using var deadline = new CancellationTokenSource(Patience);
                await role.StopAsync(deadline.Token);
                backdata.Dispose();
            }

            Assert.Equal(posted, webhook.Events.Select(e => (string?)e["event"]).Order());
            var stored = (await store.QueryAsync(new EventQuery(), CancellationToken.None)).Events;
            Assert.Equal(Kinds.Order(), stored.Select(e => StoredEventInput.FromJson(e.Json.ToArray()).Event).Order());
            Assert.Empty(await spool.ReadDeadLettersAsync(EventsQueue, 10, CancellationToken.None));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
