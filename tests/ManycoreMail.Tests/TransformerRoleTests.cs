using System.Collections.Concurrent;
using System.Text.Json;
using ManycoreMail.Config;
using ManycoreMail.Events;
using ManycoreMail.Ingress;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.Roles.Transformer;
using ManycoreMail.Suppression;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.Tests;

/// <summary>The transformer role against a real spool: one suppression lookup per batch, suppressed recipients
/// reported in the hand-off's transaction, and nothing sent unchecked when the list cannot be read.</summary>
public sealed class TransformerRoleTests : IAsyncLifetime
{
    private static readonly QueueNames Queues = new("P0", "P1", "OUT", "EVENTS");
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly string _directory = Directory.CreateTempSubdirectory("transformer-role-").FullName;
    private readonly RecordingSuppressionStore _suppressions = new();
    private readonly MetricsRegistry _metrics = new();
    private EmbeddedSpool _spool = null!;

    public async Task InitializeAsync() =>
        _spool = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(_directory, "spool") }, TimeProvider.System, CancellationToken.None);

    public async Task DisposeAsync()
    {
        await _spool.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private async Task RunUntilAsync(Func<Task<bool>> done, string what, TrackingOptions? tracking = null, TimeProvider? time = null)
    {
        var role = new TransformerRole(_spool, Queues, MessageTransformerTrackingTests.Create(tracking), _suppressions,
            new EventQueue(_spool, Queues.Events), _metrics, time ?? TimeProvider.System, NullLogger<TransformerRole>.Instance).AsRole();
        await role.StartAsync(CancellationToken.None);
        try
        {
            await Eventually.TrueAsync(done, Patience, what);
        }
        finally
        {
            await role.StopAsync(CancellationToken.None);
        }
    }

    private async Task SubmitAsync(params string[] uuids)
    {
        foreach (var uuid in uuids)
        {
            var message = MessageTransformerTrackingTests.Message("<html><body>Hi</body></html>", uuid: uuid);
            await _spool.EnqueueAsync(Queues.Primary, new QueueItem(new MessageEnvelope { Uuid = uuid }, message), CancellationToken.None);
        }
    }

    private async Task<IReadOnlyList<LeasedItem>> TakeAllAsync(string queue) =>
        await _spool.LeaseAsync(queue, 100, TimeSpan.FromMinutes(1), CancellationToken.None);

    private static SuppressionEntry Entry(string email, SuppressionScope scope, string? value, SuppressionReason reason) =>
        SuppressionEntry.Create(email, scope, value, reason, DateTimeOffset.UtcNow.AddDays(-1));

    [Fact]
    public async Task A_batch_is_checked_with_one_lookup_and_a_suppressed_recipient_gets_an_event_instead_of_mail()
    {
        _suppressions.Entries["bob@example.net"] = [Entry("bob@example.net", SuppressionScope.Global, null, SuppressionReason.Complaint)];
        await SubmitAsync("m1", "m2", "m3");

        await RunUntilAsync(async () => await _spool.CountAsync(Queues.Outbound, CancellationToken.None) == 3, "three messages handed on");

        var lookup = Assert.Single(_suppressions.Lookups);
        Assert.Equal(["ann@example.net", "bob@example.net"], lookup.Order());
        var sent = await TakeAllAsync(Queues.Outbound);
        Assert.All(sent, item => Assert.Equal(["ann@example.net"], item.Envelope.Recipients));
        Assert.Equal(0, await _spool.CountAsync(Queues.Primary, CancellationToken.None));
        var events = (await TakeAllAsync(Queues.Events)).Select(e => JsonDocument.Parse(e.Body).RootElement).ToArray();
        Assert.Equal(["m1", "m2", "m3"], events.Select(e => e.GetProperty("uuid").GetString()).Order());
        Assert.All(events, e =>
        {
            Assert.Equal("suppressed", e.GetProperty("event").GetString());
            Assert.Equal("bob@example.net", e.GetProperty("email").GetString());
            Assert.Equal("complaint", e.GetProperty("reason").GetString());
            Assert.Equal("global", e.GetProperty("scope").GetString());
        });
    }

    [Fact]
    public async Task A_message_whose_recipients_are_all_suppressed_is_completed_with_only_the_events()
    {
        _suppressions.Entries["ann@example.net"] = [Entry("ann@example.net", SuppressionScope.Sender, "News@Example.org", SuppressionReason.Unsubscribe)];
        _suppressions.Entries["bob@example.net"] = [Entry("bob@example.net", SuppressionScope.Domain, "example.org", SuppressionReason.Manual)];
        await SubmitAsync("m1");

        await RunUntilAsync(async () => await _spool.CountAsync(Queues.Events, CancellationToken.None) == 2, "two suppressed events",
            MessageTransformerTrackingTests.Tracking());

        Assert.Equal(0, await _spool.CountAsync(Queues.Primary, CancellationToken.None));
        Assert.Equal(0, await _spool.CountAsync(Queues.Outbound, CancellationToken.None));
        var scopes = (await TakeAllAsync(Queues.Events)).Select(e => JsonDocument.Parse(e.Body).RootElement.GetProperty("scope").GetString());
        Assert.Equal(["domain:example.org", "sender:news@example.org"], scopes.Order());
    }

    [Fact]
    public async Task With_tracking_each_remaining_recipient_gets_its_own_message()
    {
        await SubmitAsync("m1");

        await RunUntilAsync(async () => await _spool.CountAsync(Queues.Outbound, CancellationToken.None) == 2, "two messages handed on",
            MessageTransformerTrackingTests.Tracking());

        var sent = await TakeAllAsync(Queues.Outbound);
        Assert.Equal(["ann@example.net", "bob@example.net"], sent.SelectMany(i => i.Envelope.Recipients).Order());
        Assert.All(sent, item => Assert.Equal("m1", item.Envelope.Uuid));
        Assert.Contains("transformer_pushed_total 2", await _metrics.RenderAsync(CancellationToken.None));
    }

    [Fact]
    public async Task When_the_list_cannot_be_read_nothing_is_sent_and_the_batch_waits_for_another_try()
    {
        _suppressions.Failure = new IOException("database is locked");
        await SubmitAsync("m1", "m2");

        await RunUntilAsync(async () => (await _metrics.RenderAsync(CancellationToken.None)).Contains("transformer_suppression_failures_total 1"),
            "the failed lookup");

        Assert.Single(_suppressions.Lookups);
        Assert.Equal(0, await _spool.CountAsync(Queues.Outbound, CancellationToken.None));
        Assert.Equal(0, await _spool.CountAsync(Queues.Events, CancellationToken.None));
        // Both are still there, settled (the role has stopped) and not due yet.
        Assert.Equal(2, await _spool.CountAsync(Queues.Primary, CancellationToken.None));
        Assert.Empty(await TakeAllAsync(Queues.Primary));
    }

    [Fact]
    public async Task Each_message_is_timed_from_acceptance_to_its_lease_and_from_its_lease_to_the_committed_hand_off()
    {
        // The role's clock stands 100 s after the spool's (the message waited that long since its 250), and the
        // batch's suppression lookup, between lease and hand-off, takes 7 s of it.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow.AddSeconds(100));
        _suppressions.DuringLookup = () => time.Advance(TimeSpan.FromSeconds(7));
        await SubmitAsync("m1");

        await RunUntilAsync(async () => (await _metrics.RenderAsync(CancellationToken.None)).Contains("transformer_process_seconds_count 1"),
            "the hand-off timed", time: time);

        var text = await _metrics.RenderAsync(CancellationToken.None);
        Assert.Equal(1, await _spool.CountAsync(Queues.Outbound, CancellationToken.None));
        Assert.Contains("transformer_queue_wait_seconds_bucket{le=\"60\"} 0", text);
        Assert.Contains("transformer_queue_wait_seconds_bucket{le=\"300\"} 1", text);
        Assert.Contains("transformer_queue_wait_seconds_count 1", text);
        Assert.Contains("transformer_process_seconds_bucket{le=\"5\"} 0", text);
        Assert.Contains("transformer_process_seconds_bucket{le=\"10\"} 1", text);
    }

    /// <summary>The receivers' queue with the transformer at its door, as a process running both has it.</summary>
    private IngressQueue DoorQueue(TrackingOptions? tracking = null)
    {
        var events = new EventQueue(_spool, Queues.Events);
        var handOffs = new TransformerHandOffs(Queues, events, _metrics, TimeProvider.System, NullLogger.Instance);
        var door = new IngressTransform(MessageTransformerTrackingTests.Create(tracking), new CoalescingSuppressionLookup(_suppressions), handOffs, _metrics, TimeProvider.System, NullLogger.Instance);
        return new IngressQueue(_spool, Queues, _metrics, NullLogger<IngressQueue>.Instance, door: door);
    }

    private static Task<bool> AcceptAsync(IngressQueue queue, byte[] message, string uuid, bool primary = false) =>
        queue.TryEnqueueAsync(new IngressMessage(uuid, primary, 2), message, CancellationToken.None).AsTask();

    [Fact]
    public async Task At_the_door_an_accepted_message_goes_to_the_outbound_queue_signed_with_its_suppressed_recipient_reported()
    {
        _suppressions.Entries["bob@example.net"] = [Entry("bob@example.net", SuppressionScope.Global, null, SuppressionReason.Complaint)];
        var queue = DoorQueue();

        Assert.True(await AcceptAsync(queue, MessageTransformerTrackingTests.Message("<html><body>Hi</body></html>", uuid: "d1"), "d1", primary: true));

        Assert.Equal(0, await _spool.CountAsync(Queues.Primary, CancellationToken.None));
        Assert.Equal(0, await _spool.CountAsync(Queues.Default, CancellationToken.None));
        var sent = Assert.Single(await TakeAllAsync(Queues.Outbound));
        Assert.Equal(["ann@example.net"], sent.Envelope.Recipients);
        Assert.Equal("d1", sent.Envelope.Uuid);
        Assert.NotNull(sent.Envelope.AcceptedAt);
        var text = System.Text.Encoding.UTF8.GetString(sent.Body.Span);
        Assert.StartsWith("DKIM-Signature: ", text, StringComparison.Ordinal);
        Assert.DoesNotContain("X-Uuid:", text, StringComparison.Ordinal);
        var suppressed = JsonDocument.Parse(Assert.Single(await TakeAllAsync(Queues.Events)).Body).RootElement;
        Assert.Equal("suppressed", suppressed.GetProperty("event").GetString());
        Assert.Equal("d1", suppressed.GetProperty("uuid").GetString());
        var metrics = await _metrics.RenderAsync(CancellationToken.None);
        Assert.Contains("transformer_at_door_total 1", metrics);
        Assert.Contains("transformer_pushed_total 1", metrics);
        Assert.Contains("transformer_suppressed_total 1", metrics);
        Assert.Contains("nbr_emails_enqueued_total 1", metrics);
    }

    [Fact]
    public async Task What_the_door_cannot_transform_takes_the_ingress_queue_for_the_role_to_report()
    {
        var queue = DoorQueue();
        var unknownDomain = System.Text.Encoding.UTF8.GetBytes("From: a@elsewhere.example\r\nTo: ann@example.net\r\nX-Uuid: d2\r\nSubject: x\r\n\r\nHi\r\n");

        Assert.True(await AcceptAsync(queue, unknownDomain, "d2"));
        _suppressions.Failure = new IOException("database is locked");
        Assert.True(await AcceptAsync(queue, MessageTransformerTrackingTests.Message("<p>Hi</p>", uuid: "d3"), "d3"));

        // Both wait, untouched, for the role: its dead letter and error event for the first, its retry for the second.
        var waiting = await TakeAllAsync(Queues.Default);
        Assert.Equal(["d2", "d3"], waiting.Select(i => i.Envelope.Uuid).Order());
        Assert.Contains(waiting, i => i.Body.Span.SequenceEqual(unknownDomain));
        Assert.Equal(0, await _spool.CountAsync(Queues.Outbound, CancellationToken.None));
        Assert.Equal(0, await _spool.CountAsync(Queues.Events, CancellationToken.None));
        var metrics = await _metrics.RenderAsync(CancellationToken.None);
        Assert.DoesNotContain("transformer_at_door_total 1", metrics);
        Assert.Contains("nbr_emails_enqueued_total 2", metrics);
    }

    [Fact]
    public async Task With_tracking_the_door_hands_on_one_message_per_recipient()
    {
        var queue = DoorQueue(MessageTransformerTrackingTests.Tracking());

        Assert.True(await AcceptAsync(queue, MessageTransformerTrackingTests.Message("<html><body>Hi</body></html>", uuid: "d4"), "d4"));

        var sent = await TakeAllAsync(Queues.Outbound);
        Assert.Equal(["ann@example.net", "bob@example.net"], sent.SelectMany(i => i.Envelope.Recipients).Order());
        Assert.Contains("transformer_pushed_total 2", await _metrics.RenderAsync(CancellationToken.None));
    }

    /// <summary>Answers from <see cref="Entries"/> and records every lookup; fails with <see cref="Failure"/> when set; runs <see cref="DuringLookup"/> (a clock moved while the batch waits for the list).</summary>
    private sealed class RecordingSuppressionStore : ISuppressionStore
    {
        public ConcurrentDictionary<string, IReadOnlyList<SuppressionEntry>> Entries { get; } = new();
        public ConcurrentQueue<string[]> Lookups { get; } = new();
        public Exception? Failure { get; set; }
        public Action? DuringLookup { get; set; }

        public Task<IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>>> FindAsync(IReadOnlyCollection<string> emails,
            DateTimeOffset now, CancellationToken cancellationToken)
        {
            Lookups.Enqueue([.. emails]);
            DuringLookup?.Invoke();
            if (Failure is { } failure)
            {
                return Task.FromException<IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>>>(failure);
            }
            IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>> found = emails.Where(Entries.ContainsKey).ToDictionary(e => e, e => Entries[e]);
            return Task.FromResult(found);
        }

        public Task AddAsync(IReadOnlyList<SuppressionEntry> entries, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<bool> RemoveAsync(string email, SuppressionScope scope, string? value, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<SuppressionPage> ListAsync(SuppressionQuery query, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<long> PurgeExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken) => throw new NotSupportedException();
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
