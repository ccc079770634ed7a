namespace ManycoreMail.Suppression;

/// <summary>
/// Lookups for callers that ask one message at a time (the transformer at the door asks once per accepted message),
/// gathered into rounds of <see cref="ISuppressionStore.FindAsync"/>: while one round is out, the addresses asked for
/// meanwhile wait, and the next round carries all of them (up to <c>maxAddresses</c>). There is no timer: a caller
/// alone is answered by a round of its own at once, and under load the rounds grow with the concurrency. On
/// PostgreSQL that is one query per round where it was one per message. Thread-safe.
/// </summary>
public sealed class CoalescingSuppressionLookup
{
    private static readonly IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>> None =
        new Dictionary<string, IReadOnlyList<SuppressionEntry>>(StringComparer.Ordinal);

    private readonly ISuppressionStore _store;
    private readonly int _maxAddresses;
    private readonly Lock _gate = new();
    private readonly Queue<Lookup> _waiting = new();
    private bool _roundOut;

    /// <param name="maxAddresses">The most addresses one round asks for; a single caller asking for more gets a
    /// round of its own.</param>
    public CoalescingSuppressionLookup(ISuppressionStore store, int maxAddresses = 1000)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxAddresses, 1);
        _store = store;
        _maxAddresses = maxAddresses;
    }

    /// <summary>As <see cref="ISuppressionStore.FindAsync"/>: the entries active for each of <paramref name="emails"/>
    /// (normalised), only this caller's addresses. A round's failure is every one of its callers' failure.
    /// Cancelling stops this caller's wait, not the round it is in, which other callers share.</summary>
    public Task<IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>>> FindAsync(IReadOnlyCollection<string> emails,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(emails);
        if (emails.Count == 0)
        {
            return Task.FromResult(None);
        }
        var lookup = new Lookup(emails, now);
        bool startRound;
        lock (_gate)
        {
            _waiting.Enqueue(lookup);
            startRound = !_roundOut;
            _roundOut = true;
        }
        if (startRound)
        {
            _ = RunRoundsAsync();
        }
        return lookup.Answer.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Rounds until nobody waits. The first runs on the caller that started it (alone, nothing is added);
    /// later ones on the pool, so that a store that answers synchronously (SQLite) does not keep that caller serving
    /// the others.</summary>
    private async Task RunRoundsAsync()
    {
        var first = true;
        while (true)
        {
            List<Lookup> round;
            lock (_gate)
            {
                if (_waiting.Count == 0)
                {
                    _roundOut = false;
                    return;
                }
                round = TakeRound();
            }
            if (!first)
            {
                await Task.Yield();
            }
            first = false;
            await AnswerAsync(round).ConfigureAwait(false);
        }
    }

    private List<Lookup> TakeRound()
    {
        var round = new List<Lookup> { _waiting.Dequeue() };
        var addresses = round[0].Emails.Count;
        while (_waiting.TryPeek(out var next) && addresses + next.Emails.Count <= _maxAddresses)
        {
            round.Add(_waiting.Dequeue());
            addresses += next.Emails.Count;
        }
        return round;
    }

    private async Task AnswerAsync(List<Lookup> round)
    {
        IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>> found;
        try
        {
            // The round's moment is its latest caller's: an entry that lapsed a few milliseconds before it lets
            // that mail through, as it would have a moment later.
            var now = round.Max(l => l.Now);
            var emails = round.Count == 1 ? round[0].Emails : round.SelectMany(l => l.Emails).ToHashSet(StringComparer.Ordinal);
            // Not any caller's token: the others in the round still want the answer.
            found = await _store.FindAsync(emails, now, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            foreach (var lookup in round)
            {
                lookup.Answer.TrySetException(e);
            }
            return;
        }
        foreach (var lookup in round)
        {
            lookup.Answer.TrySetResult(round.Count == 1 ? found : Only(found, lookup.Emails));
        }
    }

    private static IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>> Only(
        IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>> found, IReadOnlyCollection<string> emails)
    {
        Dictionary<string, IReadOnlyList<SuppressionEntry>>? mine = null;
        foreach (var email in emails)
        {
            if (found.TryGetValue(email, out var entries))
            {
                (mine ??= new Dictionary<string, IReadOnlyList<SuppressionEntry>>(StringComparer.Ordinal))[email] = entries;
            }
        }
        return mine ?? None;
    }

    private sealed class Lookup(IReadOnlyCollection<string> emails, DateTimeOffset now)
    {
        public IReadOnlyCollection<string> Emails { get; } = emails;

        public DateTimeOffset Now { get; } = now;

        /// <summary>Completed by the round's runner; the caller's continuation goes to the pool rather than run
        /// inside the round.</summary>
        public TaskCompletionSource<IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>>> Answer { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
