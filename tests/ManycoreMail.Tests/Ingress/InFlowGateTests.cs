using ManycoreMail.Config;
using ManycoreMail.Ingress;
using ManycoreMail.Metrics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.Tests.Ingress;

/// <summary>The two marks of flow control: the count of messages waiting, and their estimated bytes (the depth times
/// the typical size of what the receivers queued lately). A reading is taken by hand; time only moves when told.</summary>
public sealed class InFlowGateTests
{
    private const long KB = 1024;
    private static readonly InFlowSettings Settings = new(TimeSpan.FromSeconds(60), QueueDepth: 100, QueueBytes: 4 * KB * KB);

    private readonly FakeTimeProvider _time = new();
    private readonly QueuedMessageSize _sizes = new();
    private readonly QueueDepthWatch _watch;
    private long _depth;

    public InFlowGateTests() =>
        _watch = new QueueDepthWatch(_ => ValueTask.FromResult(Volatile.Read(ref _depth)), _time, NullLogger<QueueDepthWatch>.Instance);

    [Fact]
    public async Task Fifty_waiting_messages_of_100_KB_pass_the_byte_mark_and_hold_the_next_until_the_queues_shrink()
    {
        var gate = Gate(Settings);
        QueueMessagesOf(100 * KB);
        await ReadDepthAsync(50); // about 5 MB

        var held = gate.WaitAsync(CancellationToken.None).AsTask();
        Assert.False(held.IsCompleted);

        await ReadDepthAsync(45); // still about 4.4 MB
        Assert.False(held.IsCompleted);
        await ReadDepthAsync(30); // about 3 MB
        await held.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_hundred_waiting_messages_of_5_KB_are_far_below_the_byte_mark_and_hold_nobody()
    {
        var gate = Gate(Settings);
        QueueMessagesOf(5 * KB);
        await ReadDepthAsync(100);

        Assert.True(gate.WaitAsync(CancellationToken.None).IsCompletedSuccessfully);
    }

    [Fact]
    public async Task The_count_mark_holds_whatever_the_messages_weigh()
    {
        var gate = Gate(Settings);
        await ReadDepthAsync(101); // nothing queued here yet: the size is unknown

        Assert.False(gate.WaitAsync(CancellationToken.None).IsCompleted);
    }

    [Fact]
    public async Task A_byte_mark_of_zero_leaves_the_count_alone_as_the_mark()
    {
        var gate = Gate(Settings with { QueueBytes = 0 });
        QueueMessagesOf(10 * KB * KB);
        await ReadDepthAsync(100);

        Assert.True(gate.WaitAsync(CancellationToken.None).IsCompletedSuccessfully);
    }

    [Fact]
    public async Task A_held_message_is_let_in_when_the_delay_runs_out()
    {
        var gate = Gate(Settings with { Delay = TimeSpan.FromSeconds(2) });
        QueueMessagesOf(1 * KB * KB);
        await ReadDepthAsync(10);

        var held = gate.WaitAsync(CancellationToken.None).AsTask();
        Assert.False(held.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(2));
        await held.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task While_a_gate_holds_the_depth_is_read_every_10_ms_and_every_50_ms_otherwise()
    {
        Gate(Settings);
        QueueMessagesOf(5 * KB);

        await ReadDepthAsync(100);
        Assert.Equal(TimeSpan.FromMilliseconds(50), _watch.NextInterval);
        await ReadDepthAsync(101);
        Assert.Equal(TimeSpan.FromMilliseconds(10), _watch.NextInterval);
        await ReadDepthAsync(99);
        Assert.Equal(TimeSpan.FromMilliseconds(50), _watch.NextInterval);
    }

    [Fact]
    public void The_typical_size_follows_the_messages_queued_lately()
    {
        Assert.Equal(0, _sizes.MeanBytes);
        _sizes.Add(100 * KB);
        Assert.Equal(100 * KB, _sizes.MeanBytes);

        // One odd message moves it a sixteenth of the way; a new workload takes it over within a few windows.
        _sizes.Add(1700 * KB);
        Assert.Equal(200 * KB, _sizes.MeanBytes);
        for (var i = 0; i < 5 * QueuedMessageSize.Window; i++)
        {
            _sizes.Add(5 * KB);
        }
        Assert.InRange(_sizes.MeanBytes, 5 * KB, 7 * KB);
    }

    private InFlowGate Gate(InFlowSettings settings) =>
        new(_watch, _sizes, settings, "receiver", "receiver", new MetricsRegistry(), NullLogger.Instance, _time);

    private void QueueMessagesOf(long bytes)
    {
        for (var i = 0; i < 3 * QueuedMessageSize.Window; i++)
        {
            _sizes.Add(bytes);
        }
    }

    private Task ReadDepthAsync(long depth)
    {
        Volatile.Write(ref _depth, depth);
        return _watch.ReadAsync(CancellationToken.None);
    }
}
