using System.Text.Json.Serialization;

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
    [JsonIgnore]
    public long FailureCount => Failures.Sum(f => f.Count);
}

public sealed record TlsFailureTally(string ResultType, string? ReceivingMxHostname, string? ReceivingIp, string? SendingMtaIp, string? FailureReasonCode, long Count);

/// <summary>Counts sessions per UTC day and policy (RFC 8460 §4: daily aggregates), and remembers which policy
/// domains' reports of which days went out, so none is sent twice. Thread-safe.</summary>
/// <remarks>With a <see cref="TlsReportFile"/> the counts so far survive a restart: they are read back at construction
/// and written by <see cref="SaveAsync"/>, which the host calls on a short interval, after each report sent, and on
/// shutdown. Bounded by <see cref="MaxPolicies"/> policies per day: past that, new policies are not counted (a flood
/// of distinct recipient domains must not grow memory without limit; the ones already seen keep counting).</remarks>
public sealed class TlsReportCollector : ITlsReportSink
{
    public const int MaxPolicies = 50_000;
    private const int MaxFailureKindsPerPolicy = 100;

    /// <summary>Sent reports are remembered this long: long enough for any clock step back or late restore.</summary>
    private const int SentDaysKept = 7;

    private readonly TimeProvider _time;
    private readonly TlsReportFile? _file;
    private readonly Lock _lock = new();
    private readonly Dictionary<DateOnly, Dictionary<string, Tally>> _days = [];
    private readonly HashSet<TlsSentReport> _sent = [];
    private readonly SemaphoreSlim _saving = new(1, 1);
    private long _version;
    private long _savedVersion;

    private sealed class Tally(string domain, TlsPolicyKind kind, IReadOnlyList<string> policyStrings, IReadOnlyList<string> mxPatterns)
    {
        public string Domain { get; } = domain;
        public TlsPolicyKind Kind { get; } = kind;
        public IReadOnlyList<string> PolicyStrings { get; } = policyStrings;
        public IReadOnlyList<string> MxPatterns { get; } = mxPatterns;
        public long Successes { get; set; }
        public Dictionary<(string, string?, string?, string?, string?), long> Failures { get; } = [];
    }

    /// <param name="file">Where the counts persist; null: in memory only.</param>
    /// <exception cref="InvalidDataException">The file is not a tally file; the message names it.</exception>
    public TlsReportCollector(TimeProvider time, TlsReportFile? file = null)
    {
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
        _file = file;
        if (file?.Load() is not { } state)
        {
            return;
        }

        _sent.UnionWith(state.Sent);
        foreach (var day in state.Days)
        {
            var policies = _days[day.Day] = [];
            foreach (var policy in day.Policies)
            {
                var tally = policies[Key(policy.PolicyDomain, policy.Kind, policy.PolicyStrings)] =
                    new Tally(policy.PolicyDomain, policy.Kind, policy.PolicyStrings, policy.MxPatterns) { Successes = policy.Successes };
                foreach (var failure in policy.Failures)
                {
                    tally.Failures[(failure.ResultType, failure.ReceivingMxHostname, failure.ReceivingIp, failure.SendingMtaIp, failure.FailureReasonCode)] = failure.Count;
                }
            }
        }
    }

    public void Record(TlsSessionResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var day = DateOnly.FromDateTime(_time.GetUtcNow().UtcDateTime);
        var domain = result.PolicyDomain.ToLowerInvariant();
        var key = Key(domain, result.Kind, result.PolicyStrings);
        lock (_lock)
        {
            if (_sent.Contains(new TlsSentReport(day, domain)))
            {
                return; // the clock went back into a day already reported: counting it would go nowhere
            }

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

                policies[key] = tally = new Tally(domain, result.Kind, result.PolicyStrings, result.MxPatterns);
            }

            _version++;
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

    /// <summary>The counts of every day before <paramref name="today"/> not yet reported, by day; they stay until
    /// <see cref="MarkSent"/> says their report went out.</summary>
    public IReadOnlyList<TlsReportDay> FinishedDays(DateOnly today)
    {
        lock (_lock)
        {
            return [.. _days.Where(d => d.Key < today).OrderBy(d => d.Key).Select(d => new TlsReportDay(d.Key, [.. d.Value.Values.Select(Snapshot)]))];
        }
    }

    /// <summary>The report of <paramref name="domain"/> for <paramref name="day"/> went out: its counts are dropped and
    /// the day is remembered as sent for the domain, so a restart or a late session cannot report it again.</summary>
    public void MarkSent(DateOnly day, string domain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        domain = domain.ToLowerInvariant();
        lock (_lock)
        {
            _version++;
            _sent.Add(new TlsSentReport(day, domain));
            _sent.RemoveWhere(s => s.Day < day.AddDays(-SentDaysKept));
            if (_days.TryGetValue(day, out var policies))
            {
                foreach (var key in policies.Where(p => p.Value.Domain == domain).Select(p => p.Key).ToArray())
                {
                    policies.Remove(key);
                }

                if (policies.Count == 0)
                {
                    _days.Remove(day);
                }
            }
        }
    }

    /// <summary>Removes and returns the counts of every day before <paramref name="today"/>, by day, without marking
    /// them sent (for callers that only read the counts).</summary>
    public IReadOnlyList<(DateOnly Day, IReadOnlyList<TlsPolicyTally> Policies)> TakeDaysBefore(DateOnly today)
    {
        lock (_lock)
        {
            var taken = FinishedDays(today);
            foreach (var day in taken)
            {
                _days.Remove(day.Day);
            }

            _version++;
            return [.. taken.Select(d => (d.Day, d.Policies))];
        }
    }

    /// <summary>Writes the counts and the sent reports to the file when anything changed since the last write; does
    /// nothing without a file.</summary>
    public async Task SaveAsync(CancellationToken cancellationToken)
    {
        if (_file is null)
        {
            return;
        }

        await _saving.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            TlsReportState state;
            long version;
            lock (_lock)
            {
                if (_version == _savedVersion)
                {
                    return;
                }

                version = _version;
                state = new TlsReportState(
                    [.. _days.OrderBy(d => d.Key).Select(d => new TlsReportDay(d.Key, [.. d.Value.Values.Select(Snapshot)]))],
                    [.. _sent.OrderBy(s => s.Day).ThenBy(s => s.Domain, StringComparer.Ordinal)]);
            }

            await _file.WriteAsync(state, cancellationToken).ConfigureAwait(false);
            _savedVersion = version;
        }
        finally
        {
            _saving.Release();
        }
    }

    private static string Key(string domain, TlsPolicyKind kind, IReadOnlyList<string> policyStrings) =>
        $"{domain.ToLowerInvariant()}\n{kind}\n{string.Join('\n', policyStrings)}";

    private static TlsPolicyTally Snapshot(Tally tally) => new(
        tally.Domain,
        tally.Kind,
        tally.PolicyStrings,
        tally.MxPatterns,
        tally.Successes,
        [.. tally.Failures.Select(f => new TlsFailureTally(f.Key.Item1, f.Key.Item2, f.Key.Item3, f.Key.Item4, f.Key.Item5, f.Value))]);
}
