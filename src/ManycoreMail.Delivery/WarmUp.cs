namespace ManycoreMail.Delivery;

/// <summary>One step of a warm-up schedule: from day <see cref="Day"/> (1 = the start date) each mailbox provider may be
/// sent <see cref="PerProvider"/> recipients a day by the source.</summary>
internal sealed record WarmUpStep(int Day, int PerProvider);

/// <summary>A source's warm-up (<c>sources[].warmup</c>): the caps of a day are those of the last step whose day has come;
/// from the day after the last step the source is warm (no cap). Days are UTC dates.</summary>
internal sealed record WarmUpSchedule(DateOnly Start, IReadOnlyList<WarmUpStep> Steps)
{
    /// <summary>The recipients a provider may receive on <paramref name="date"/>, or null once the source is warm. Before the
    /// start date the first step applies: a source never sends more than its first day allows before its schedule begins.</summary>
    public int? CapOn(DateOnly date)
    {
        var day = date.DayNumber - Start.DayNumber + 1;
        if (Steps.Count == 0 || day > Steps[^1].Day)
        {
            return null;
        }
        var cap = Steps[0].PerProvider;
        foreach (var step in Steps)
        {
            if (step.Day <= day)
            {
                cap = step.PerProvider;
            }
        }
        return cap;
    }
}

/// <summary>Where the day's warm-up counts are kept so that a restart does not reset them (the host's SQLite file in the
/// storage directory; <see cref="InMemoryWarmUpStore"/> in tests and when no source warms up).</summary>
internal interface IWarmUpStore
{
    /// <summary>The counts of <paramref name="date"/> by (source, provider).</summary>
    IReadOnlyDictionary<(string Source, string Provider), int> Load(DateOnly date);

    /// <summary>Records the count of one (date, source, provider) as it now is.</summary>
    void Save(DateOnly date, string source, string provider, int count);
}

/// <summary>Warm-up counts kept where every sender process sees them (Redis): a reservation is checked against the cap
/// where the count lives, in one step, so that the senders together never pass a cap.</summary>
internal interface ISharedWarmUpCounts
{
    /// <summary>Adds <paramref name="recipients"/> to the count of (date, source, provider) when the sum stays within
    /// <paramref name="cap"/>, or when the count is 0 (a job larger than a whole day's cap goes alone on a day of its own).
    /// <c>Count</c> is the senders' count after the attempt.</summary>
    ValueTask<(bool Reserved, int Count)> TryReserveAsync(DateOnly date, string source, string provider, int recipients, int cap,
        CancellationToken cancellationToken);
}

internal sealed class InMemoryWarmUpStore : IWarmUpStore
{
    private readonly Dictionary<(DateOnly, string, string), int> _counts = [];
    private readonly Lock _lock = new();

    public IReadOnlyDictionary<(string Source, string Provider), int> Load(DateOnly date)
    {
        lock (_lock)
        {
            return _counts.Where(c => c.Key.Item1 == date).ToDictionary(c => (c.Key.Item2, c.Key.Item3), c => c.Value);
        }
    }

    public void Save(DateOnly date, string source, string provider, int count)
    {
        lock (_lock)
        {
            _counts[(date, source, provider)] = count;
        }
    }
}

/// <summary>What one warming source has been given today for one provider.</summary>
internal sealed record WarmUpProgress(string Source, string Provider, int Sent, int Cap);

/// <summary>
/// Today's warm-up counts: recipients handed to each warming source per provider. A recipient counts when the source is
/// chosen for it (an attempt), so that concurrent deliveries can never overshoot a cap; a deferred recipient has used its
/// share. The counts of the current UTC day are kept in memory and written through to the store; with counts shared by
/// several senders, the memory holds the senders' counts as last seen and each reservation is made where they live.
/// </summary>
internal sealed class WarmUpLedger(IWarmUpStore store, TimeProvider time, ISharedWarmUpCounts? shared = null)
{
    private readonly Lock _lock = new();
    private Dictionary<(string Source, string Provider), int> _counts = [];
    private DateOnly _date = DateOnly.MinValue;

    public DateOnly Today => DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);

    /// <summary>The start of the next UTC day, when every cap starts again.</summary>
    public DateTimeOffset NextDay => new(Today.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);

    /// <summary>True when <paramref name="source"/> may take <paramref name="recipients"/> more for the provider today.
    /// A job larger than a whole day's cap goes alone on a day of its own (else it would wait forever).</summary>
    public bool HasRoom(EgressSource source, string provider, int recipients)
    {
        lock (_lock)
        {
            return Room(source, provider, recipients);
        }
    }

    /// <summary>Counts <paramref name="recipients"/> against the source's cap; false when they no longer fit.</summary>
    public bool TryReserve(EgressSource source, string provider, int recipients)
    {
        lock (_lock)
        {
            if (!Room(source, provider, recipients))
            {
                return false;
            }
            if (source.WarmUp?.CapOn(_date) is null)
            {
                return true;
            }
            var count = _counts.GetValueOrDefault((source.Name, provider)) + recipients;
            _counts[(source.Name, provider)] = count;
            store.Save(_date, source.Name, provider, count);
            return true;
        }
    }

    /// <summary>As <see cref="TryReserve"/>, made with the other senders when the counts are shared.</summary>
    public async ValueTask<bool> TryReserveAsync(EgressSource source, string provider, int recipients, CancellationToken cancellationToken)
    {
        if (shared is null)
        {
            return TryReserve(source, provider, recipients);
        }
        DateOnly date;
        int cap;
        lock (_lock)
        {
            // The count last seen only grows within a day: when it leaves no room, the senders' count leaves none either.
            if (!Room(source, provider, recipients))
            {
                return false;
            }
            if (source.WarmUp?.CapOn(_date) is not { } today)
            {
                return true;
            }
            (date, cap) = (_date, today);
        }
        var (reserved, count) = await shared.TryReserveAsync(date, source.Name, provider, recipients, cap, cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            if (_date == date)
            {
                _counts[(source.Name, provider)] = count;
            }
        }
        return reserved;
    }

    /// <summary>Today's counts and caps of every warming source, for every provider it has been used for.</summary>
    public IReadOnlyList<WarmUpProgress> Progress(IEnumerable<EgressSource> sources, IEnumerable<string> providers)
    {
        lock (_lock)
        {
            Roll();
            var list = new List<WarmUpProgress>();
            foreach (var source in sources)
            {
                if (source.WarmUp?.CapOn(_date) is not { } cap)
                {
                    continue;
                }
                foreach (var provider in providers)
                {
                    list.Add(new WarmUpProgress(source.Name, provider, _counts.GetValueOrDefault((source.Name, provider)), cap));
                }
            }
            return list;
        }
    }

    private bool Room(EgressSource source, string provider, int recipients)
    {
        Roll();
        if (source.WarmUp?.CapOn(_date) is not { } cap)
        {
            return true;
        }
        var count = _counts.GetValueOrDefault((source.Name, provider));
        return count + recipients <= cap || (count == 0 && recipients > cap);
    }

    /// <summary>At the first use of a new day, its counts (none, unless a restart happened today) come from the store.</summary>
    private void Roll()
    {
        var today = Today;
        if (today != _date)
        {
            _date = today;
            _counts = new Dictionary<(string, string), int>(store.Load(today));
        }
    }
}
