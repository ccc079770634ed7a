using System.Collections.Concurrent;
using System.Text;

namespace ManycoreMail.Metrics;

/// <summary>A metric family with labels (KumoMTA-style <c>delivered_total{site="..."}</c>), rendered whole.</summary>
internal interface ILabelledFamily
{
    string Name { get; }
    void Render(StringBuilder text);
}

/// <summary>Counters per label values, created on first increment.</summary>
internal sealed class LabelledCounter(string name, string help, params string[] labelNames) : ILabelledFamily
{
    // Keyed by the values themselves: an increment happens per recipient on the delivery path, while the exposition
    // text of the labels is needed only when scraped.
    private readonly ConcurrentDictionary<LabelValues, Entry> _series = new();

    public string Name { get; } = name;

    public void Increment(params string[] labelValues) => Increment(1, labelValues);

    public void Increment(long by, params string[] labelValues)
    {
        if (labelValues.Length != labelNames.Length)
        {
            throw new ArgumentException($"{Name} takes {labelNames.Length} label value(s).", nameof(labelValues));
        }
        if (!_series.TryGetValue(new LabelValues(labelValues), out var entry))
        {
            // The key keeps a copy: a caller may reuse its array for other values.
            entry = _series.GetOrAdd(new LabelValues([.. labelValues]), static _ => new Entry());
        }
        Interlocked.Add(ref entry.Value, by);
    }

    /// <summary>The current value for these label values (0 when never incremented).</summary>
    public long Value(params string[] labelValues) =>
        _series.TryGetValue(new LabelValues(labelValues), out var entry) ? Interlocked.Read(ref entry.Value) : 0;

    public void Render(StringBuilder text)
    {
        LabelText.Header(text, Name, help, "counter");
        foreach (var (labels, entry) in _series.Select(s => (LabelText.Format(labelNames, s.Key.Values), s.Value)).OrderBy(s => s.Item1, StringComparer.Ordinal))
        {
            text.Append(Name).Append(labels).Append(' ').Append(MetricsRegistry.Format(Interlocked.Read(ref entry.Value))).Append('\n');
        }
    }

    private sealed class Entry
    {
        public long Value;
    }

    /// <summary>One series' label values, equal by ordinal content.</summary>
    private readonly struct LabelValues(string[] values) : IEquatable<LabelValues>
    {
        public string[] Values { get; } = values;

        public bool Equals(LabelValues other) => Values.AsSpan().SequenceEqual(other.Values);

        public override bool Equals(object? obj) => obj is LabelValues other && Equals(other);

        public override int GetHashCode()
        {
            var hash = new HashCode();
            foreach (var value in Values)
            {
                hash.Add(value, StringComparer.Ordinal);
            }
            return hash.ToHashCode();
        }
    }
}

/// <summary>Gauges per label values, read when scraped from whoever owns the numbers.</summary>
internal sealed class LabelledGauge(string name, string help, string[] labelNames, Func<IEnumerable<(string[] Labels, double Value)>> read)
    : ILabelledFamily
{
    public string Name { get; } = name;

    public void Render(StringBuilder text)
    {
        LabelText.Header(text, Name, help, "gauge");
        foreach (var (labels, value) in read().Select(s => (LabelText.Format(labelNames, s.Labels), s.Value)).OrderBy(s => s.Item1, StringComparer.Ordinal))
        {
            text.Append(Name).Append(labels).Append(' ').Append(MetricsRegistry.Format(value)).Append('\n');
        }
    }
}

internal static class LabelText
{
    public static void Header(StringBuilder text, string name, string help, string type)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
    }

    /// <summary><c>{a="x",b="y"}</c> with values escaped as the exposition format requires.</summary>
    public static string Format(string[] names, string[] values)
    {
        var text = new StringBuilder(16 * names.Length + 2).Append('{');
        for (var i = 0; i < names.Length; i++)
        {
            if (i > 0)
            {
                text.Append(',');
            }
            text.Append(names[i]).Append("=\"");
            foreach (var c in i < values.Length ? values[i] : "")
            {
                _ = c switch
                {
                    '\\' => text.Append("\\\\"),
                    '"' => text.Append("\\\""),
                    '\n' => text.Append("\\n"),
                    _ => text.Append(c),
                };
            }
            text.Append('"');
        }
        return text.Append('}').ToString();
    }
}
