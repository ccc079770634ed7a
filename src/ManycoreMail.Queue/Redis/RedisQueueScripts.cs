namespace ManycoreMail.Queue.Redis;

/// <summary>
/// The queue's Lua scripts. Each runs atomically on the server, and with appendfsync always its effects
/// are on disk before the reply, so a script is the unit of durability the contract calls a transaction.
/// </summary>
/// <remarks>
/// Key layout for queue Q with prefix P (default "mm:"):
/// <list type="bullet">
/// <item>Q: LIST of ready items, raw bytes, exactly what the original modules push and pop.</item>
/// <item>PqQ:meta:&lt;digest of body&gt;: LIST of our metadata for the ready items with that digest, in list order
///   (first-in-first-out per digest matches them up; see <see cref="Digest"/>).</item>
/// <item>PqQ:item:&lt;id&gt;: HASH b=body, m=metadata, t=lease token, for items leased or scheduled.</item>
/// <item>PqQ:leased: ZSET id by lease expiry (ms); PqQ:sched: ZSET id by due time (ms).</item>
/// <item>PqQ:dead: ZSET id by time of death; PqQ:dead:&lt;id&gt;: HASH b, m, r=reason, at.</item>
/// <item>Pids, Ptokens: counters for item ids and lease tokens.</item>
/// </list>
/// Metadata is "id:attempts:createdMs:envelopeJson". An item pushed by somebody else (the original's
/// modules) has none; it gets an id, no envelope, and its creation time is when it was first leased.
/// Keys built inside the scripts are not declared in KEYS, which a Redis Cluster would refuse;
/// this store targets one Redis server (with replicas), as the original did.
/// </remarks>
internal static class RedisQueueScripts
{
    /// <summary>
    /// The digest that pairs a ready body with its metadata. A message is identified by its header block and
    /// length: its headers are its own (an X-Uuid on the way in, a DKIM signature over the body on the way out),
    /// so two bodies that share both are the same message. Hashing whole bodies made SHA-1 a fifth of Redis' CPU
    /// at 100 KB; small bodies and anything without a header block (events) are still hashed whole.
    /// </summary>
    private const string Digest = """
        local function digest(body)
          local n = #body
          if n > 4096 then
            local e = string.find(body, '\r\n\r\n', 1, true)
            if e then return redis.sha1hex(string.sub(body, 1, e + 3)) .. ':' .. n end
          end
          return redis.sha1hex(body)
        end

        """;

    /// <summary>KEYS: Q, leased, sched, ids, tokens. ARGV: item key base, now, lease expiry, max, sweep limit,
    /// max bytes (the lease ends once its bodies reach it). Returns meta, body, token for each item leased.</summary>
    public static readonly RedisScript Lease = new(Digest + """
        local q, leased, sched = KEYS[1], KEYS[2], KEYS[3]
        local base, now, expires, max, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
        local budget = tonumber(ARGV[6])
        local function ready(zset, id)
          local item = base .. 'item:' .. id
          local f = redis.call('HMGET', item, 'b', 'm')
          if f[1] then
            redis.call('RPUSH', q, f[1])
            redis.call('RPUSH', base .. 'meta:' .. digest(f[1]), f[2])
          end
          redis.call('DEL', item)
          redis.call('ZREM', zset, id)
        end
        for _, id in ipairs(redis.call('ZRANGEBYSCORE', sched, '-inf', now, 'LIMIT', 0, limit)) do ready(sched, id) end
        for _, id in ipairs(redis.call('ZRANGEBYSCORE', leased, '-inf', now, 'LIMIT', 0, limit)) do ready(leased, id) end
        local out = {}
        local token = redis.call('INCRBY', KEYS[5], max) - max
        for n = 1, max do
          local body = redis.call('LPOP', q)
          if not body then break end
          local meta = redis.call('LPOP', base .. 'meta:' .. digest(body))
          local id = meta and string.match(meta, '^(%d+):')
          if not id then
            id = tostring(redis.call('INCR', KEYS[4]))
            meta = id .. ':0:' .. now .. ':'
          end
          redis.call('HSET', base .. 'item:' .. id, 'b', body, 'm', meta, 't', token + n)
          redis.call('ZADD', leased, expires, id)
          out[#out + 1] = meta
          out[#out + 1] = body
          out[#out + 1] = token + n
          budget = budget - #body
          if budget <= 0 then break end
        end
        return out
        """);

    /// <summary>Stride of one operation in <see cref="Commit"/>'s ARGV.</summary>
    public const int CommitStride = 7;

    /// <summary>KEYS: ids. ARGV: prefix, now, then per operation: kind, queue, id, token, due, meta or reason, body.
    /// Kinds: E enqueue (meta without its id), C complete, R retry or release (full meta), D dead-letter.
    /// Every lease is checked before anything is written, so a lost lease applies nothing.</summary>
    public static readonly RedisScript Commit = new(Digest + """
        local p, now = ARGV[1], tonumber(ARGV[2])
        local seen = {}
        for i = 3, #ARGV, 7 do
          if ARGV[i] ~= 'E' then
            local item = p .. 'q:' .. ARGV[i + 1] .. ':item:' .. ARGV[i + 2]
            if seen[item] or redis.call('HGET', item, 't') ~= ARGV[i + 3] then
              return redis.error_reply('LEASELOST ' .. ARGV[i + 1] .. ' ' .. ARGV[i + 2])
            end
            seen[item] = true
          end
        end
        local function ready(queue, base, body, meta)
          redis.call('RPUSH', queue, body)
          redis.call('RPUSH', base .. 'meta:' .. digest(body), meta)
        end
        for i = 3, #ARGV, 7 do
          local kind, queue, id, due = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 4])
          local base = p .. 'q:' .. queue .. ':'
          if kind == 'E' then
            local nid = tostring(redis.call('INCR', KEYS[1]))
            local meta = nid .. ':' .. ARGV[i + 5]
            if due <= now then
              ready(queue, base, ARGV[i + 6], meta)
            else
              redis.call('HSET', base .. 'item:' .. nid, 'b', ARGV[i + 6], 'm', meta)
              redis.call('ZADD', base .. 'sched', due, nid)
            end
          else
            local item = base .. 'item:' .. id
            redis.call('ZREM', base .. 'leased', id)
            if kind == 'C' then
              redis.call('DEL', item)
            elseif kind == 'R' then
              if due <= now then
                ready(queue, base, redis.call('HGET', item, 'b'), ARGV[i + 5])
                redis.call('DEL', item)
              else
                redis.call('HSET', item, 'm', ARGV[i + 5])
                redis.call('HDEL', item, 't')
                redis.call('ZADD', base .. 'sched', due, id)
              end
            elseif kind == 'D' then
              local f = redis.call('HMGET', item, 'b', 'm')
              redis.call('HSET', base .. 'dead:' .. id, 'b', f[1], 'm', f[2], 'r', ARGV[i + 5], 'at', ARGV[2])
              redis.call('ZADD', base .. 'dead', now, id)
              redis.call('DEL', item)
            end
          end
        end
        return 1
        """);

    /// <summary>ARGV: prefix, new expiry, then per item: queue, id, token. Moves the expiry of every lease still
    /// held (token unchanged) and returns the ids of those that are not.</summary>
    public static readonly RedisScript Renew = new("""
        local p, expires = ARGV[1], ARGV[2]
        local lost = {}
        for i = 3, #ARGV, 3 do
          local base = p .. 'q:' .. ARGV[i] .. ':'
          if redis.call('HGET', base .. 'item:' .. ARGV[i + 1], 't') == ARGV[i + 2] then
            redis.call('ZADD', base .. 'leased', 'XX', expires, ARGV[i + 1])
          else
            lost[#lost + 1] = ARGV[i + 1]
          end
        end
        return lost
        """);

    /// <summary>KEYS: Q, leased, sched. Returns { ready count, earliest due ms or nothing }.</summary>
    public static readonly RedisScript DueState = new("""
        local n = redis.call('LLEN', KEYS[1])
        if n > 0 then return { n } end
        local best = nil
        for k = 2, 3 do
          local first = redis.call('ZRANGE', KEYS[k], 0, 0, 'WITHSCORES')
          if first[2] then
            local score = tonumber(first[2])
            if not best or score < best then best = score end
          end
        end
        if best then return { 0, string.format('%.0f', best) } end
        return { 0 }
        """);

    /// <summary>KEYS: Q, leased, sched. Items on the queue in any state.</summary>
    public static readonly RedisScript Count = new("""
        return redis.call('LLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[3])
        """);

    /// <summary>KEYS: dead zset. ARGV: item key base, max. Returns meta, body, reason, at for the oldest dead letters.</summary>
    public static readonly RedisScript DeadLetters = new("""
        local out = {}
        for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do
          local f = redis.call('HMGET', ARGV[1] .. 'dead:' .. id, 'm', 'b', 'r', 'at')
          if f[1] then
            out[#out + 1] = f[1]; out[#out + 1] = f[2]; out[#out + 1] = f[3]; out[#out + 1] = f[4]
          end
        end
        return out
        """);
}
