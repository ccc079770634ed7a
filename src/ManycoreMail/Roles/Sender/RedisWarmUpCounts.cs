using System.Globalization;
using ManycoreMail.Delivery;
using ManycoreMail.Queue.Redis;

namespace ManycoreMail.Roles.Sender;

/// <summary>
/// Warm-up counts shared by every sender process on one Redis: one counter per (UTC day, source, provider),
/// <c>{prefix}warmup:{day}:{source}:{provider}</c>, raised by INCRBY in a script that first checks the cap, and kept two
/// days. While Redis does not answer, this sender takes its share of the room it last saw (the room divided by the
/// senders last counted) and adds what it took to the counter at its next reservation.
/// </summary>
internal sealed class RedisWarmUpCounts(RedisSiteLimitCoordinator cluster, string keyPrefix) : ISharedWarmUpCounts
{
    private const long KeepSeconds = 2 * 24 * 3600;

    private readonly Lock _lock = new();
    /// <summary>The senders' count each counter had at its last answer.</summary>
    private readonly Dictionary<string, int> _seen = new(StringComparer.Ordinal);
    /// <summary>Recipients this sender counted while Redis was away, not yet added to the counter.</summary>
    private readonly Dictionary<string, int> _unrecorded = new(StringComparer.Ordinal);

    public async ValueTask<(bool Reserved, int Count)> TryReserveAsync(DateOnly date, string source, string provider, int recipients, int cap,
        CancellationToken cancellationToken)
    {
        var key = keyPrefix + "warmup:" + date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) + ":" + source + ":" + provider;
        if (!cluster.IsInFallback)
        {
            int unrecorded;
            lock (_lock)
            {
                _unrecorded.Remove(key, out unrecorded);
            }
            using var request = RespRequest.Script(RedisWarmUpScripts.Reserve, 1, 5).Add(key).Add(recipients).Add(cap).Add(KeepSeconds).Add(unrecorded);
            if (await cluster.TryRunAsync(request, cancellationToken).ConfigureAwait(false) is { } reply)
            {
                var count = (int)reply[1].Integer;
                lock (_lock)
                {
                    _seen[key] = count;
                }
                var reserved = reply[0].Integer == 1;
                if (!reserved)
                {
                    cluster.CountWait("warmup");
                }
                return (reserved, count);
            }
            lock (_lock)
            {
                _unrecorded[key] = _unrecorded.GetValueOrDefault(key) + unrecorded;
            }
        }
        lock (_lock)
        {
            var seen = _seen.GetValueOrDefault(key);
            var mine = _unrecorded.GetValueOrDefault(key);
            var share = Math.Max(0, cap - seen) / cluster.Senders;
            if (mine + recipients > share)
            {
                cluster.CountWait("warmup");
                return (false, seen + mine);
            }
            _unrecorded[key] = mine + recipients;
            return (true, seen + mine + recipients);
        }
    }
}

internal static class RedisWarmUpScripts
{
    /// <summary>KEYS[1] the day's counter; ARGV recipients, cap, seconds to keep, recipients counted while Redis was away
    /// (added first, whatever the cap). Adds the recipients when they fit (or the counter is 0: a job larger than a day's
    /// cap goes alone); returns {1 or 0, the count}.</summary>
    public static readonly RedisScript Reserve = new("""
        local unrecorded = tonumber(ARGV[4])
        local count = tonumber(redis.call('GET', KEYS[1]) or '0')
        if unrecorded > 0 then
          count = redis.call('INCRBY', KEYS[1], unrecorded)
          redis.call('EXPIRE', KEYS[1], ARGV[3])
        end
        local recipients = tonumber(ARGV[1])
        if count + recipients <= tonumber(ARGV[2]) or (count == 0 and recipients > tonumber(ARGV[2])) then
          count = redis.call('INCRBY', KEYS[1], recipients)
          redis.call('EXPIRE', KEYS[1], ARGV[3])
          return {1, count}
        end
        return {0, count}
        """);
}
