using System.Globalization;
using System.Text;

namespace ManycoreMail.Metrics;

/// <summary>
/// A Prometheus histogram without labels: a count per upper bound, plus the sum and the count of all
/// observations. Safe to observe from any thread; a scrape may see an observation in the buckets a moment
/// before it shows in the sum, as with any lock-free histogram.
/// </summary>
internal sealed class Histogram : ILabelledFamily
{
    private readonly string _help;
    private readonly double[] _bounds;
    private readonly long[] _counts;
    private long _count;
    private long _sumBits;

    public Histogram(string name, string help, double[] bounds)
    {
        if (bounds.Length == 0 || bounds.Zip(bounds.Skip(1)).Any(pair => pair.First >= pair.Second))
        {
            throw new ArgumentException("Bucket bounds must be given in increasing order.", nameof(bounds));
        }
        Name = name;
        _help = help;
        _bounds = bounds;
        _counts = new long[bounds.Length];
    }

    /// <summary>A histogram of how long a message took over part or all of its way, in the buckets every such
    /// histogram shares (accept_to_delivery_seconds and its stages), so that their percentiles can be set side by side:
    /// fine below a second (a healthy path), coarse above (retries). bench/latency.py knows these bounds.</summary>
    public static Histogram OfMessageLatency(string name, string help) => new(name, help,
        [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75,
         1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600]);

    public string Name { get; }

    public long Count => Interlocked.Read(ref _count);

    public double Sum => BitConverter.Int64BitsToDouble(Interlocked.Read(ref _sumBits));

    public void Observe(double value)
    {
        var bucket = Array.BinarySearch(_bounds, value);
        bucket = bucket >= 0 ? bucket : ~bucket;
        if (bucket < _counts.Length)
        {
            Interlocked.Increment(ref _counts[bucket]);
        }
        Interlocked.Increment(ref _count);
        // Compare-and-swap loop: bounded in practice by the number of threads observing at the same instant.
        var seen = Interlocked.Read(ref _sumBits);
        while (true)
        {
            var updated = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(seen) + value);
            var previous = Interlocked.CompareExchange(ref _sumBits, updated, seen);
            if (previous == seen)
            {
                return;
            }
            seen = previous;
        }
    }

    public void Render(StringBuilder text)
    {
        LabelText.Header(text, Name, _help, "histogram");
        long cumulative = 0;
        for (var i = 0; i < _bounds.Length; i++)
        {
            cumulative += Interlocked.Read(ref _counts[i]);
            text.Append(Name).Append("_bucket{le=\"").Append(_bounds[i].ToString("R", CultureInfo.InvariantCulture)).Append("\"} ")
                .Append(MetricsRegistry.Format(cumulative)).Append('\n');
        }
        var count = Count;
        text.Append(Name).Append("_bucket{le=\"+Inf\"} ").Append(MetricsRegistry.Format(count)).Append('\n');
        text.Append(Name).Append("_sum ").Append(MetricsRegistry.Format(Sum)).Append('\n');
        text.Append(Name).Append("_count ").Append(MetricsRegistry.Format(count)).Append('\n');
    }
}
