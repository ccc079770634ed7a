namespace ManycoreMail.Delivery;

/// <summary>
/// Messages per second, minute and hour, and a minimum delay between deliveries, for one site. Sliding windows
/// over the times of recent deliveries: exact counts (a limit of 3 per hour lets exactly 3 through in any hour),
/// memory bounded by the largest limit. Not thread-safe: the owning site calls it under its lock.
/// </summary>
internal sealed class SiteRateLimiter
{
    private readonly (int Limit, TimeSpan Window)[] _windows;
    private readonly TimeSpan? _delay;
    // Ring buffer of the latest delivery times, oldest at _start.
    private readonly DateTimeOffset[] _recent;
    private int _start;
    private int _count;
    private DateTimeOffset _last = DateTimeOffset.MinValue;

    public SiteRateLimiter(SiteLimits limits)
    {
        var windows = new List<(int, TimeSpan)>(3);
        if (limits.MessagesPerSecond is { } s) windows.Add((s, TimeSpan.FromSeconds(1)));
        if (limits.MessagesPerMinute is { } m) windows.Add((m, TimeSpan.FromMinutes(1)));
        if (limits.MessagesPerHour is { } h) windows.Add((h, TimeSpan.FromHours(1)));
        _windows = [.. windows];
        _recent = new DateTimeOffset[_windows.Length == 0 ? 0 : _windows.Max(w => w.Limit)];
        _delay = limits.DelayBetweenDeliveries;
    }

    /// <summary>Takes a delivery slot now and returns <see cref="TimeSpan.Zero"/>, or returns how long until one is free.</summary>
    public TimeSpan TryAcquire(DateTimeOffset now)
    {
        var wait = WaitAt(now);
        if (wait > TimeSpan.Zero)
        {
            return wait;
        }
        _last = now;
        if (_recent.Length > 0)
        {
            if (_count == _recent.Length)
            {
                _recent[_start] = now;
                _start = (_start + 1) % _recent.Length;
            }
            else
            {
                _recent[(_start + _count) % _recent.Length] = now;
                _count++;
            }
        }
        return TimeSpan.Zero;
    }

    /// <summary>How long until a delivery slot is free (zero: now), taking nothing.</summary>
    public TimeSpan WaitAt(DateTimeOffset now)
    {
        var wait = TimeSpan.Zero;
        if (_delay is { } delay && _last + delay > now)
        {
            wait = _last + delay - now;
        }
        foreach (var (limit, window) in _windows)
        {
            // The limit-th most recent delivery must have left the window.
            if (_count >= limit)
            {
                var blocking = _recent[(_start + _count - limit) % _recent.Length];
                var free = blocking + window - now;
                if (free > wait)
                {
                    wait = free;
                }
            }
        }
        return wait;
    }
}
