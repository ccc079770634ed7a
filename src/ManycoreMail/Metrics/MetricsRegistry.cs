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
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException or Queue.QueueUnavailableException)
        {
            return double.NaN;
        }
    }
}

/// <summary>
/// The process's metrics, exposed in the Prometheus text format under the original system's names.
/// One registry per process; a role registers through its view (<see cref="ForRoles"/>), which tags the names it
/// registers, so that in <c>mailer run</c> each role's metrics bind serves that role's series plus the untagged,
/// process-wide ones (memory, runtime, queue gauges).
/// </summary>
internal sealed class MetricsRegistry
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Counter> _counters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Gauge> _gauges = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ILabelledFamily> _families = new(StringComparer.Ordinal);
    /// <summary>The roles that registered each name through a view; a name absent here is process-wide.</summary>
    private readonly Dictionary<string, HashSet<string>> _owners = new(StringComparer.Ordinal);
    /// <summary>Set on a view: the registry that holds everything, and the roles this view registers for.</summary>
    private readonly MetricsRegistry? _root;
    private readonly string[] _roles = [];

    public MetricsRegistry()
    {
        Gauge("memory_usage_percent", "Share of the machine's memory in use, as /proc/meminfo tells it.", MemoryUsage.Percent);
        Family(new RuntimeMetrics());
    }

    private MetricsRegistry(MetricsRegistry root, string[] roles)
    {
        _root = root;
        _roles = roles;
    }

    /// <summary>The same registry, with every name registered through the result tagged as these roles' (a component
    /// shared by several roles, such as the ingress queue, names them all).</summary>
    public MetricsRegistry ForRoles(params string[] roles) => new(_root ?? this, roles);

    private void Own(string name)
    {
        var root = _root!;
        lock (root._lock)
        {
            if (!root._owners.TryGetValue(name, out var owners))
            {
                owners = new HashSet<string>(StringComparer.Ordinal);
                root._owners.Add(name, owners);
            }
            owners.UnionWith(_roles);
        }
    }

    /// <summary>The counter with this name, created on first use (so two roles in one process share it).</summary>
    public Counter Counter(string name, string help)
    {
        if (_root is not null)
        {
            Own(name);
            return _root.Counter(name, help);
        }
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
        if (_root is not null)
        {
            Own(name);
            _root.Gauge(name, help, read);
            return;
        }
        lock (_lock)
        {
            _gauges[name] = new Gauge(name, help, read);
        }
    }

    /// <summary>A labelled family (see LabelledMetrics.cs); the one already registered under its name wins, so
    /// two roles in one process share it.</summary>
    public T Family<T>(T family) where T : class, ILabelledFamily
    {
        if (_root is not null)
        {
            Own(family.Name);
            return _root.Family(family);
        }
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

    /// <summary>Every series of the process.</summary>
    public Task<string> RenderAsync(CancellationToken cancellationToken) => RenderAsync(null, cancellationToken);

    /// <summary>The process-wide series and those of <paramref name="roles"/> (every series when null).</summary>
    public async Task<string> RenderAsync(IReadOnlySet<string>? roles, CancellationToken cancellationToken)
    {
        if (_root is not null)
        {
            return await _root.RenderAsync(roles, cancellationToken).ConfigureAwait(false);
        }
        Counter[] counters;
        Gauge[] gauges;
        ILabelledFamily[] families;
        lock (_lock)
        {
            bool Served(string name) => roles is null || !_owners.TryGetValue(name, out var owners) || owners.Overlaps(roles);
            counters = [.. _counters.Values.Where(c => Served(c.Name)).OrderBy(c => c.Name, StringComparer.Ordinal)];
            gauges = [.. _gauges.Values.Where(g => Served(g.Name)).OrderBy(g => g.Name, StringComparer.Ordinal)];
            families = [.. _families.Values.Where(f => Served(f.Name)).OrderBy(f => f.Name, StringComparer.Ordinal)];
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
