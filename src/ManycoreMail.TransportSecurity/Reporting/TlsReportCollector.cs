namespace ManycoreMail.TransportSecurity.Reporting;

/// <summary>One policy's counts for one UTC day: what a report's "policies" entry holds.</summary>
public sealed record TlsPolicyTally(
    string PolicyDomain,
    TlsPolicyKind Kind,
    IReadOnlyList<string> PolicyStrings,
    IReadOnlyList<string> MxPatterns,
    long Successes,
    IReadOnlyList<TlsFailureTally> Failures)
{
    public long FailureCount => Failures.Sum(f => f.Count);
}

public sealed record TlsFailureTally(string ResultType, string? ReceivingMxHostname, string? ReceivingIp, string? SendingMtaIp, string? FailureReasonCode, long Count);

/// <summary>Counts sessions per UTC day and policy (RFC 8460 §4: daily aggregates), in memory. Thread-safe.</summary>
/// <remarks>Bounded by <see cref="MaxPolicies"/> policies per day: past that, new policies are not counted (a flood of
/// distinct recipient domains must not grow memory without limit; the ones already seen keep counting).</remarks>
public sealed class TlsReportCollector(TimeProvider time) : ITlsReportSink
{
    public const int MaxPolicies = 50_000;
    private const int MaxFailureKindsPerPolicy = 100;

    private readonly Lock _lock = new();
    private readonly Dictionary<DateOnly, Dictionary<string, Tally>> _days = [];

    private sealed class Tally(TlsSessionResult first)
    {
        public TlsSessionResult First { get; } = first;
        public long Successes { get; set; }
        public Dictionary<(string, string?, string?, string?, string?), long> Failures { get; } = [];
    }

    public void Record(TlsSessionResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var day = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        var key = $"{result.PolicyDomain.ToLowerInvariant()}\n{result.Kind}\n{string.Join('\n', result.PolicyStrings)}";
        lock (_lock)
        {
            if (!_days.TryGetValue(day, out var policies))
            {
                _days[day] = policies = [];
            }

            if (!policies.TryGetValue(key, out var tally))
            {
                if (policies.Count >= MaxPolicies)
                {
                    return;
                }

                policies[key] = tally = new Tally(result);
            }

            if (result.Succeeded)
            {
                tally.Successes++;
                return;
            }

            var failure = (result.FailureType!, result.ReceivingMxHostname, result.ReceivingIp?.ToString(), result.SendingMtaIp?.ToString(), result.FailureReasonCode);
            if (tally.Failures.ContainsKey(failure) || tally.Failures.Count < MaxFailureKindsPerPolicy)
            {
                tally.Failures[failure] = tally.Failures.GetValueOrDefault(failure) + 1;
            }
        }
    }

    /// <summary>Removes and returns the counts of every day before <paramref name="today"/>, by day.</summary>
    public IReadOnlyList<(DateOnly Day, IReadOnlyList<TlsPolicyTally> Policies)> TakeDaysBefore(DateOnly today)
    {
        lock (_lock)
        {
            var done = _days.Keys.Where(d => d < today).Order().ToArray();
            var taken = new List<(DateOnly, IReadOnlyList<TlsPolicyTally>)>(done.Length);
            foreach (var day in done)
            {
                taken.Add((day, [.. _days[day].Values.Select(Snapshot)]));
                _days.Remove(day);
            }

            return taken;
        }
    }

    private static TlsPolicyTally Snapshot(Tally tally) => new(
        tally.First.PolicyDomain.ToLowerInvariant(),
        tally.First.Kind,
        tally.First.PolicyStrings,
        tally.First.MxPatterns,
        tally.Successes,
        [.. tally.Failures.Select(f => new TlsFailureTally(f.Key.Item1, f.Key.Item2, f.Key.Item3, f.Key.Item4, f.Key.Item5, f.Value))]);
}
