using System.Text;
using ManycoreMail.Metrics;

namespace ManycoreMail.Tests;

public sealed class LabelledCounterTests
{
    [Fact]
    public void A_reused_label_array_does_not_change_the_series_counted_before()
    {
        var counter = new LabelledCounter("bounced_total", "Bounces.", "site", "type");
        var labels = new[] { "mx.a.test", "hard" };
        counter.Increment(labels);
        labels[0] = "mx.b.test";
        labels[1] = "soft";
        counter.Increment(2, labels);
        counter.Increment("mx.a.test", "hard");

        Assert.Equal(2, counter.Value("mx.a.test", "hard"));
        Assert.Equal(2, counter.Value("mx.b.test", "soft"));
        Assert.Equal(0, counter.Value("mx.a.test", "soft"));
    }

    [Fact]
    public void Renders_every_series_sorted_by_its_label_text_with_values_escaped()
    {
        var counter = new LabelledCounter("delivered_total", "Delivered.", "site");
        counter.Increment("b");
        counter.Increment(3, "a\"x\\y\nz");
        counter.Increment("b");

        var text = new StringBuilder();
        counter.Render(text);

        Assert.Equal("""
            # HELP delivered_total Delivered.
            # TYPE delivered_total counter
            delivered_total{site="a\"x\\y\nz"} 3.0
            delivered_total{site="b"} 2.0

            """.ReplaceLineEndings("\n"), text.ToString());
    }

    [Fact]
    public void Increments_from_many_threads_are_all_counted()
    {
        var counter = new LabelledCounter("c", "c", "site");
        Parallel.For(0, 10_000, i => counter.Increment(i % 2 == 0 ? "even" : "odd"));
        Assert.Equal(5_000, counter.Value("even"));
        Assert.Equal(5_000, counter.Value("odd"));
    }
}
