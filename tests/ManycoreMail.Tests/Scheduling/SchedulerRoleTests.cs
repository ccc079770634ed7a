using System.Text;
using System.Text.Json;
using ManycoreMail.Config;
using ManycoreMail.Events;
using ManycoreMail.Ingress;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.Roles.Scheduler;
using ManycoreMail.Sending;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.Tests.Scheduling;

/// <summary>The scheduler's decisions against a real spool and a real (SQLite) ledger: where a due item goes, what is
/// dropped, reported or kept for a later try.</summary>
public sealed class SchedulerRoleTests : IAsyncLifetime
{
    private static readonly QueueNames Queues = new("P0", "P1", "OUT", "EVENTS");
    private readonly string _directory = Directory.CreateTempSubdirectory("scheduler-role-").FullName;
    private readonly MetricsRegistry _metrics = new();
    private readonly ScriptedComposer _composer = new();
    private EmbeddedSpool _spool = null!;
    private SqliteScheduleLedger _ledger = null!;

    public async Task InitializeAsync()
    {
        _spool = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(_directory, "spool") }, TimeProvider.System, CancellationToken.None);
        _ledger = SqliteScheduleLedger.Open(Path.Combine(_directory, SqliteScheduleLedger.FileName), TimeProvider.System);
    }

    public async Task DisposeAsync()
    {
        await _ledger.DisposeAsync();
        await _spool.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private SchedulerRole Role() => new(_spool, Queues, _ledger, _composer,
        new IngressQueue(_spool, Queues, _metrics, NullLogger<IngressQueue>.Instance), new EventQueue(_spool, Queues.Events),
        _metrics, TimeProvider.System, NullLogger<SchedulerRole>.Instance);

    private static byte[] Raw(string uuid, string priority) => Encoding.ASCII.GetBytes(
        $"From: a@example.com\r\nTo: b@example.net, c@example.net\r\nX-Uuid: {uuid}\r\nX-Priority: {priority}\r\nX-Send-At: 2026-12-06T12:00:00Z\r\n\r\nHi\r\n");

    /// <summary>Holds an item (due now) as the receivers do, recorded in the ledger.</summary>
    private async Task HoldAsync(string uuid, byte[] body, string? bodyFormat = null)
    {
        await _ledger.RecordAsync([new ScheduledEntry(uuid, DateTimeOffset.UtcNow, null)], CancellationToken.None);
        await _spool.EnqueueAsync(Queues.Scheduled, new QueueItem(new MessageEnvelope { Uuid = uuid, BodyFormat = bodyFormat }, body), CancellationToken.None);
    }

    private async Task HandOnDueAsync()
    {
        var batch = await _spool.LeaseAsync(Queues.Scheduled, 100, TimeSpan.FromMinutes(1), CancellationToken.None);
        Assert.NotEmpty(batch);
        await Role().HandOnBatchAsync(batch, CancellationToken.None);
    }

    private async Task<IReadOnlyList<LeasedItem>> TakeAllAsync(string queue) =>
        await _spool.LeaseAsync(queue, 100, TimeSpan.FromMinutes(1), CancellationToken.None);

    [Fact]
    public async Task A_raw_message_goes_to_the_queue_its_priority_names_and_counts_as_enqueued()
    {
        await HoldAsync("urgent", Raw("urgent", "0"));
        await HoldAsync("normal", Raw("normal", "1"));

        await HandOnDueAsync();

        var primary = Assert.Single(await TakeAllAsync(Queues.Primary));
        Assert.Equal("urgent", primary.Envelope.Uuid);
        Assert.Equal(Raw("urgent", "0"), primary.Body.ToArray());
        Assert.Equal("normal", Assert.Single(await TakeAllAsync(Queues.Default)).Envelope.Uuid);
        Assert.Equal(0, await _spool.CountAsync(Queues.Scheduled, CancellationToken.None));
        Assert.Equal(CancelOutcome.AlreadySent, await _ledger.CancelAsync("urgent", null, CancellationToken.None));
        var metrics = await _metrics.RenderAsync(CancellationToken.None);
        Assert.Contains("nbr_emails_enqueued_total 2.0", metrics);
        Assert.Contains("nbr_recipients_total 4.0", metrics);
    }

    [Fact]
    public async Task A_cancelled_message_is_dropped_silently_at_its_time()
    {
        await HoldAsync("gone", Raw("gone", "0"));
        Assert.Equal(CancelOutcome.Cancelled, await _ledger.CancelAsync("gone", null, CancellationToken.None));

        await HandOnDueAsync();

        Assert.Equal(0, await _spool.CountAsync(Queues.Scheduled, CancellationToken.None));
        Assert.Equal(0, await _spool.CountAsync(Queues.Primary, CancellationToken.None));
        // The cancel emitted its event; a second one here would report it twice.
        Assert.Equal(0, await _spool.CountAsync(Queues.Events, CancellationToken.None));
        Assert.Contains("scheduler_cancelled_total 1.0", await _metrics.RenderAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_held_send_is_composed_at_its_time_and_queued_as_composed()
    {
        _composer.Next = _ => new HeldSendOutcome.Composed(Raw("json1", "1"), IsPrimary: true);
        await HoldAsync("json1", Encoding.UTF8.GetBytes("{\"held\":true}"), HeldSend.BodyFormat);

        await HandOnDueAsync();

        Assert.Equal("{\"held\":true}", Assert.Single(_composer.Requests));
        var queued = Assert.Single(await TakeAllAsync(Queues.Primary));
        Assert.Equal(Raw("json1", "1"), queued.Body.ToArray());
        Assert.Null(queued.Envelope.BodyFormat);
    }

    [Fact]
    public async Task A_held_send_that_can_no_longer_be_composed_gets_an_error_event_and_is_not_sent()
    {
        _composer.Next = _ => new HeldSendOutcome.Failed("template 'welcome' was deleted");
        await HoldAsync("json2", Encoding.UTF8.GetBytes("{}"), HeldSend.BodyFormat);

        await HandOnDueAsync();

        Assert.Equal(0, await _spool.CountAsync(Queues.Primary, CancellationToken.None) + await _spool.CountAsync(Queues.Default, CancellationToken.None));
        var error = JsonDocument.Parse(Assert.Single(await TakeAllAsync(Queues.Events)).Body).RootElement;
        Assert.Equal("error", error.GetProperty("event").GetString());
        Assert.Equal("json2", error.GetProperty("uuid").GetString());
        Assert.Equal("template 'welcome' was deleted", error.GetProperty("msg").GetString());
        Assert.Equal(0, await _spool.CountAsync(Queues.Scheduled, CancellationToken.None));
    }

    [Fact]
    public async Task A_composer_that_cannot_tell_now_leaves_the_message_held_for_a_later_try_and_still_cancellable()
    {
        _composer.Next = _ => throw new TimeoutException("template store unreachable");
        await HoldAsync("json3", Encoding.UTF8.GetBytes("{}"), HeldSend.BodyFormat);

        await HandOnDueAsync();

        Assert.Equal(1, await _spool.CountAsync(Queues.Scheduled, CancellationToken.None));
        // Retried later, not at once.
        Assert.Empty(await TakeAllAsync(Queues.Scheduled));
        Assert.Equal(0, await _spool.CountAsync(Queues.Primary, CancellationToken.None) + await _spool.CountAsync(Queues.Events, CancellationToken.None));
        Assert.Equal(CancelOutcome.Cancelled, await _ledger.CancelAsync("json3", null, CancellationToken.None));
    }

    [Fact]
    public async Task Once_stopping_the_rest_of_a_batch_is_given_back_untouched()
    {
        await HoldAsync("kept1", Raw("kept1", "0"));
        await HoldAsync("kept2", Raw("kept2", "0"));
        var batch = await TakeAllAsync(Queues.Scheduled);
        Assert.Equal(2, batch.Count);

        await Role().HandOnBatchAsync(batch, new CancellationToken(canceled: true));

        Assert.Equal(0, await _spool.CountAsync(Queues.Primary, CancellationToken.None));
        Assert.Equal(["kept1", "kept2"], (await TakeAllAsync(Queues.Scheduled)).Select(i => i.Envelope.Uuid).Order());
        Assert.Equal(CancelOutcome.Cancelled, await _ledger.CancelAsync("kept1", null, CancellationToken.None));
    }

    [Fact]
    public async Task The_running_role_hands_on_an_item_when_it_falls_due()
    {
        await _ledger.RecordAsync([new ScheduledEntry("later", DateTimeOffset.UtcNow, null)], CancellationToken.None);
        await _spool.CommitAsync(new QueueTransaction().Enqueue(Queues.Scheduled,
            new QueueItem(new MessageEnvelope { Uuid = "later" }, Raw("later", "1")), DateTimeOffset.UtcNow.AddSeconds(1)), CancellationToken.None);
        var role = Role().AsRole();
        await role.StartAsync(CancellationToken.None);
        try
        {
            await Eventually.TrueAsync(async () => await _spool.CountAsync(Queues.Default, CancellationToken.None) == 1, TimeSpan.FromSeconds(20), "the held item on P1");
        }
        finally
        {
            await role.StopAsync(CancellationToken.None);
        }
        Assert.Equal(0, await _spool.CountAsync(Queues.Scheduled, CancellationToken.None));
    }

    private sealed class ScriptedComposer : IHeldSendComposer
    {
        public Func<ReadOnlyMemory<byte>, HeldSendOutcome> Next { get; set; } = _ => throw new InvalidOperationException("unexpected compose");

        public List<string> Requests { get; } = [];

        public ValueTask<HeldSendOutcome> ComposeAsync(ReadOnlyMemory<byte> heldRequest, CancellationToken cancellationToken)
        {
            Requests.Add(Encoding.UTF8.GetString(heldRequest.Span));
            return ValueTask.FromResult(Next(heldRequest));
        }
    }
}
