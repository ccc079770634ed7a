using System.Globalization;
using System.Text;

namespace ManycoreMail.Metrics;

/// <summary>A monotonically increasing count, safe to increment from any thread.</summary>
internal sealed class Counter(string name, string help)
{
    private long _value;

    public string Name { get; } = name;
    public string Help { get; } = help;
    public long Value => Interlocked.Read(ref _value);

    public void Increment(long by = 1) => Interlocked.Add(ref _value, by);
}

/// <summary>A value read when scraped; reading may need I/O (a queue's length), so it is awaited.</summary>
internal sealed class Gauge(string name, string help, Func<CancellationToken, ValueTask<double>> read)
{
    public string Name { get; } = name;
    public string Help { get; } = help;

    /// <summary>The value, or NaN when it cannot be read now (the exposition format's "unknown").</summary>
    public async Task<double> ReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await read(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException or Queue.Redis.RedisConnectionException)
        {
            return double.NaN;
        }
    }
}

/// <summary>
/// The process's metrics, exposed in the Prometheus text format under the original system's names.
/// One registry per process: in <c>mailer run</c> every configured bind serves all of it.
/// </summary>
internal sealed class MetricsRegistry
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Counter> _counters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Gauge> _gauges = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ILabelledFamily> _families = new(StringComparer.Ordinal);

    public MetricsRegistry()
    {
        Gauge("memory_usage_percent", "Share of the machine's memory in use, as /proc/meminfo tells it.", MemoryUsage.Percent);
        Family(new RuntimeMetrics());
    }

    /// <summary>The counter with this name, created on first use (so two roles in one process share it).</summary>
    public Counter Counter(string name, string help)
    {
        lock (_lock)
        {
            if (!_counters.TryGetValue(name, out var counter))
            {
                counter = new Counter(name, help);
                _counters.Add(name, counter);
            }
            return counter;
        }
    }

    /// <summary>A gauge read from memory.</summary>
    public void Gauge(string name, string help, Func<double> read) =>
        Gauge(name, help, _ => ValueTask.FromResult(read()));

    /// <summary>A gauge whose value needs I/O (the spool, Redis): read asynchronously at each scrape, all such
    /// gauges at once.</summary>
    public void Gauge(string name, string help, Func<CancellationToken, ValueTask<double>> read)
    {
        lock (_lock)
        {
            _gauges[name] = new Gauge(name, help, read);
        }
    }

    /// <summary>A labelled family (see LabelledMetrics.cs); the one already registered under its name wins, so
    /// two roles in one process share it.</summary>
    public T Family<T>(T family) where T : class, ILabelledFamily
    {
        lock (_lock)
        {
            if (_families.TryGetValue(family.Name, out var existing) && existing is T same)
            {
                return same;
            }
            _families[family.Name] = family;
            return family;
        }
    }

    public async Task<string> RenderAsync(CancellationToken cancellationToken)
    {
        Counter[] counters;
        Gauge[] gauges;
        ILabelledFamily[] families;
        lock (_lock)
        {
            counters = [.. _counters.Values.OrderBy(c => c.Name, StringComparer.Ordinal)];
            gauges = [.. _gauges.Values.OrderBy(g => g.Name, StringComparer.Ordinal)];
            families = [.. _families.Values.OrderBy(f => f.Name, StringComparer.Ordinal)];
        }
        var text = new StringBuilder(4096);
        foreach (var counter in counters)
        {
            // Counter names already end in _total (the original's names); TYPE counter applies to the family.
            Append(text, counter.Name, counter.Help, "counter", counter.Value);
        }
        // Started together: on Redis the reads share the connection's pipeline instead of queueing one by one.
        var values = await Task.WhenAll(gauges.Select(g => g.ReadAsync(cancellationToken))).ConfigureAwait(false);
        for (var i = 0; i < gauges.Length; i++)
        {
            Append(text, gauges[i].Name, gauges[i].Help, "gauge", values[i]);
        }
        foreach (var family in families)
        {
            family.Render(text);
        }
        return text.ToString();
    }

    private static void Append(StringBuilder text, string name, string help, string type, double value)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        text.Append(name).Append(' ').Append(Format(value)).Append('\n');
    }

    // The original printed counters as floats ("nbr_emails_enqueued_total 1000.0"); dashboards don't care,
    // but keeping the shape makes side-by-side comparisons easy.
    internal static string Format(double value) =>
        double.IsNaN(value) ? "NaN"
        : value == Math.Floor(value) && Math.Abs(value) < 1e15 ? value.ToString("0.0", CultureInfo.InvariantCulture)
        : value.ToString("R", CultureInfo.InvariantCulture);
}
