using System.Text;
using ManycoreMail.Metrics;

namespace ManycoreMail.Tests;

public sealed class HistogramTests
{
    [Fact]
    public void Renders_cumulative_buckets_sum_and_count_in_the_prometheus_text_format()
    {
        var histogram = new Histogram("accept_to_delivery_seconds", "Latency.", [0.1, 1, 10]);
        foreach (var value in new[] { 0.05, 0.1, 0.5, 2, 20 })
        {
            histogram.Observe(value);
        }

        var text = new StringBuilder();
        histogram.Render(text);

        Assert.Equal("""
            # HELP accept_to_delivery_seconds Latency.
            # TYPE accept_to_delivery_seconds histogram
            accept_to_delivery_seconds_bucket{le="0.1"} 2.0
            accept_to_delivery_seconds_bucket{le="1"} 3.0
            accept_to_delivery_seconds_bucket{le="10"} 4.0
            accept_to_delivery_seconds_bucket{le="+Inf"} 5.0
            accept_to_delivery_seconds_sum 22.65
            accept_to_delivery_seconds_count 5.0

            """.ReplaceLineEndings("\n"), text.ToString());
    }

    [Fact]
    public void Observations_from_many_threads_are_all_counted()
    {
        var histogram = new Histogram("h", "h", [1]);
        Parallel.For(0, 10_000, i => histogram.Observe(i % 2 == 0 ? 0.5 : 1.5));
        Assert.Equal(10_000, histogram.Count);
        Assert.Equal(10_000, histogram.Sum);
    }

    [Fact]
    public void Bounds_out_of_order_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new Histogram("h", "h", [1, 1]));
    }
}
