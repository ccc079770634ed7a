namespace ManycoreMail.Roles.Tracker;

/// <summary>
/// The last click of each recent (message, recipient), to see a scanner following every link of a message in a
/// moment. Bounded: at <c>capacity</c> entries the ones older than the window go, and if that frees nothing the
/// whole window is forgotten (a flood of distinct recipients is not worth remembering). Thread-safe.
/// </summary>
internal sealed class ClickBurstWindow(TimeSpan window, int capacity)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Uuid, string Recipient), (string Url, DateTimeOffset At)> _last = [];

    /// <summary>Records the click; true when another link of the same message and recipient was followed within
    /// the window before it.</summary>
    public bool IsBurst(string uuid, string recipient, string url, DateTimeOffset at)
    {
        var key = (uuid, recipient);
        lock (_lock)
        {
            var burst = _last.TryGetValue(key, out var previous)
                && !string.Equals(previous.Url, url, StringComparison.Ordinal)
                && (at - previous.At).Duration() <= window;
            if (!_last.ContainsKey(key) && _last.Count >= capacity)
            {
                Evict(at);
            }
            _last[key] = (url, at);
            return burst;
        }
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _last.Count;
            }
        }
    }

    private void Evict(DateTimeOffset now)
    {
        foreach (var (key, value) in _last)
        {
            if (now - value.At > window)
            {
                _last.Remove(key);
            }
        }
        if (_last.Count >= capacity)
        {
            _last.Clear();
        }
    }
}
