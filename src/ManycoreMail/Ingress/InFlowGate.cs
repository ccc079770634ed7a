using ManycoreMail.Config;
using ManycoreMail.Metrics;
using ManycoreMail.Smtp.Server;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Ingress;

/// <summary>
/// One receiver's flow control (<c>in-flow-delay-seconds</c>, <c>in-flow-queue-depth</c>, <c>in-flow-queue-megabytes</c>),
/// after Postfix's <c>in_flow_delay</c>: while more messages than the mark wait in the queues behind the receiver, or
/// more bytes than its byte mark (the depth times the typical size of what was queued lately), a new message waits
/// until the queues are back under both marks or the delay has run out, and is then taken as usual. Nothing is refused
/// for flow: a client that sends as fast as it can is only slowed to the rate mail leaves, and the queues stay short.
/// </summary>
internal sealed class InFlowGate : IInFlowControl
{
    private readonly QueueDepthWatch? _watch;
    private readonly QueuedMessageSize _sizes;
    private readonly InFlowSettings _settings;
    private readonly string _role;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Counter _delayed;
    private readonly Histogram _waited;
    /// <summary>Only the watch's loop reads and writes it.</summary>
    private bool _holding;
    private long _delayedWhileHolding;

    /// <param name="watch">The process's reading of the depth; null when <paramref name="settings"/> turn flow control off.</param>
    /// <param name="sizes">The typical size of the messages queued lately, for the byte mark.</param>
    /// <param name="metricPrefix">The receiver's metric names begin with it (<c>receiver</c>, <c>httpreceiver</c>).</param>
    public InFlowGate(QueueDepthWatch? watch, QueuedMessageSize sizes, InFlowSettings settings, string role, string metricPrefix, MetricsRegistry metrics,
        ILogger logger, TimeProvider time)
    {
        _sizes = sizes;
        _settings = settings;
        _watch = settings.Enabled ? watch ?? throw new ArgumentNullException(nameof(watch)) : null;
        _role = role;
        _logger = logger;
        _time = time;
        _delayed = metrics.Counter(metricPrefix + "_in_flow_delayed_total",
            "Messages held before they were received because the queues behind the receiver were above in-flow-queue-depth or in-flow-queue-megabytes.");
        _waited = metrics.Family(new Histogram(metricPrefix + "_in_flow_delay_seconds",
            "Seconds each held message waited before it was received (at most in-flow-delay-seconds).",
            [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60]));
        _watch?.OnReading(Observe);
    }

    public ValueTask WaitAsync(CancellationToken cancellationToken) =>
        _watch is null || !Congested(_watch.Depth) ? ValueTask.CompletedTask : new ValueTask(HoldAsync(_watch, cancellationToken));

    private bool Congested(long depth) =>
        depth > _settings.QueueDepth || (_settings.QueueBytes > 0 && depth * _sizes.MeanBytes > _settings.QueueBytes);

    private async Task HoldAsync(QueueDepthWatch watch, CancellationToken cancellationToken)
    {
        _delayed.Increment();
        Interlocked.Increment(ref _delayedWhileHolding);
        var started = _time.GetTimestamp();
        try
        {
            // Bounded by the delay: each pass waits for the next reading or the rest of the delay, whichever comes first.
            while (true)
            {
                var next = watch.NextReading;
                var left = _settings.Delay - _time.GetElapsedTime(started);
                if (!Congested(watch.Depth) || left <= TimeSpan.Zero)
                {
                    return;
                }
                try
                {
                    await next.WaitAsync(left, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    return;
                }
            }
        }
        finally
        {
            _waited.Observe(_time.GetElapsedTime(started).TotalSeconds);
        }
    }

    /// <summary>Logs when flow control starts and ends (once each, not per message); true while it holds.</summary>
    private bool Observe(long depth)
    {
        var congested = Congested(depth);
        if (congested == _holding)
        {
            return congested;
        }
        _holding = congested;
        if (congested)
        {
            _logger.LogInformation("{Role}: in-flow control on: {Depth} messages of about {Megabytes:F1} MB wait in the queues behind it (in-flow-queue-depth {Mark}, in-flow-queue-megabytes {MarkMegabytes}); new messages wait up to {Delay} s",
                _role, depth, depth * (double)_sizes.MeanBytes / (1024 * 1024), _settings.QueueDepth, _settings.QueueBytes / (1024 * 1024), _settings.Delay.TotalSeconds);
        }
        else
        {
            _logger.LogInformation("{Role}: in-flow control off: {Depth} messages wait (in-flow-queue-depth {Mark}, in-flow-queue-megabytes {MarkMegabytes}); {Delayed} messages were held meanwhile",
                _role, depth, _settings.QueueDepth, _settings.QueueBytes / (1024 * 1024), Interlocked.Exchange(ref _delayedWhileHolding, 0));
        }
        return congested;
    }
}
