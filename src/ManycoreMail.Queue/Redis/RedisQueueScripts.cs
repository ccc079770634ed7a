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
/// <item>PqQ:item:&lt;id&gt;: HASH m=metadata, t=lease token, for items leased or scheduled.</item>
/// <item>PqQ:body:&lt;id&gt;: LIST holding the body of that item alone. A body is moved between Q and its own
///   list with LMOVE, which Redis logs as the command, not the bytes: a lease or a retry writes tens of bytes
///   to the append-only file whatever the size of the message, and the body is written there once, when it is
///   pushed.</item>
/// <item>PqQ:leased: ZSET id by lease expiry (ms); PqQ:sched: ZSET id by due time (ms).</item>
/// <item>PqQ:dead: ZSET id by time of death; PqQ:dead:&lt;id&gt;: HASH m, r=reason, at;
///   PqQ:deadbody:&lt;id&gt;: LIST with the body (renamed from its body list).</item>
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

    /// <summary>Puts a leased or scheduled item back at the tail of its ready list with the metadata given: its
    /// body moves, its item hash goes. Used by <see cref="Lease"/> (expired leases, due retries) and
    /// <see cref="Commit"/> (releases, retries due now).</summary>
    private const string Requeue = """
        local function requeue(queue, base, id, meta)
          local body = base .. 'body:' .. id
          local b = redis.call('LINDEX', body, 0)
          if b then
            redis.call('LMOVE', body, queue, 'LEFT', 'RIGHT')
            redis.call('RPUSH', base .. 'meta:' .. digest(b), meta or (id .. ':0:0:'))
          end
          redis.call('DEL', base .. 'item:' .. id)
        end

        """;

    /// <summary>KEYS: Q, leased, sched, ids, tokens. ARGV: item key base, now, lease expiry, max, sweep limit,
    /// max bytes (the lease ends once its bodies reach it). Returns meta, body, token for each item leased.</summary>
    public static readonly RedisScript Lease = new(Digest + Requeue + """
        local q, leased, sched = KEYS[1], KEYS[2], KEYS[3]
        local base, now, expires, max, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
        local budget = tonumber(ARGV[6])
        local function due(zset)
          for _, id in ipairs(redis.call('ZRANGEBYSCORE', zset, '-inf', now, 'LIMIT', 0, limit)) do
            requeue(q, base, id, redis.call('HGET', base .. 'item:' .. id, 'm'))
            redis.call('ZREM', zset, id)
          end
        end
        due(sched)
        due(leased)
        local out = {}
        local token = redis.call('INCRBY', KEYS[5], max) - max
        for n = 1, max do
          local body = redis.call('LINDEX', q, 0)
          if not body then break end
          local meta = redis.call('LPOP', base .. 'meta:' .. digest(body))
          local id = meta and string.match(meta, '^(%d+):')
          if not id then
            id = tostring(redis.call('INCR', KEYS[4]))
            meta = id .. ':0:' .. now .. ':'
          end
          redis.call('LMOVE', q, base .. 'body:' .. id, 'LEFT', 'RIGHT')
          redis.call('HSET', base .. 'item:' .. id, 'm', meta, 't', token + n)
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
    public static readonly RedisScript Commit = new(Digest + Requeue + """
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
        for i = 3, #ARGV, 7 do
          local kind, queue, id, due = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 4])
          local base = p .. 'q:' .. queue .. ':'
          if kind == 'E' then
            local nid = tostring(redis.call('INCR', KEYS[1]))
            local meta = nid .. ':' .. ARGV[i + 5]
            local body = ARGV[i + 6]
            if due <= now then
              redis.call('RPUSH', queue, body)
              redis.call('RPUSH', base .. 'meta:' .. digest(body), meta)
            else
              redis.call('RPUSH', base .. 'body:' .. nid, body)
              redis.call('HSET', base .. 'item:' .. nid, 'm', meta)
              redis.call('ZADD', base .. 'sched', due, nid)
            end
          else
            local item = base .. 'item:' .. id
            redis.call('ZREM', base .. 'leased', id)
            if kind == 'C' then
              redis.call('DEL', item, base .. 'body:' .. id)
            elseif kind == 'R' then
              if due <= now then
                requeue(queue, base, id, ARGV[i + 5])
              else
                redis.call('HSET', item, 'm', ARGV[i + 5])
                redis.call('HDEL', item, 't')
                redis.call('ZADD', base .. 'sched', due, id)
              end
            elseif kind == 'D' then
              redis.call('HSET', base .. 'dead:' .. id, 'm', redis.call('HGET', item, 'm'), 'r', ARGV[i + 5], 'at', ARGV[2])
              if redis.call('EXISTS', base .. 'body:' .. id) == 1 then
                redis.call('RENAME', base .. 'body:' .. id, base .. 'deadbody:' .. id)
              end
              redis.call('ZADD', base .. 'dead', now, id)
              redis.call('DEL', item)
            end
          end
        end
        return 1
        """);

    /// <summary>ARGV: prefix, new expiry, then per item: queue, id, token. Moves the expiry of every lease still
    /// held (token unchanged) and returns the positions (from 0) of those that are not.</summary>
    public static readonly RedisScript Renew = new("""
        local p, expires = ARGV[1], ARGV[2]
        local lost = {}
        for i = 3, #ARGV, 3 do
          local base = p .. 'q:' .. ARGV[i] .. ':'
          if redis.call('HGET', base .. 'item:' .. ARGV[i + 1], 't') == ARGV[i + 2] then
            redis.call('ZADD', base .. 'leased', 'XX', expires, ARGV[i + 1])
          else
            lost[#lost + 1] = (i - 3) / 3
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
          local f = redis.call('HMGET', ARGV[1] .. 'dead:' .. id, 'm', 'r', 'at')
          if f[1] then
            local body = redis.call('LINDEX', ARGV[1] .. 'deadbody:' .. id, 0) or ''
            out[#out + 1] = f[1]; out[#out + 1] = body; out[#out + 1] = f[2]; out[#out + 1] = f[3]
          end
        end
        return out
        """);

    /// <summary>KEYS: dead zset. ARGV: item key base, queue, max. Puts the oldest dead letters back at the tail of the
    /// ready list with their attempts reset, and returns how many. One without a body (none is made so) stays.</summary>
    public static readonly RedisScript Revive = new(Digest + Requeue + """
        local base, queue = ARGV[1], ARGV[2]
        local n = 0
        for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)) do
          local meta = redis.call('HGET', base .. 'dead:' .. id, 'm')
          if meta and redis.call('EXISTS', base .. 'deadbody:' .. id) == 1 then
            redis.call('RENAME', base .. 'deadbody:' .. id, base .. 'body:' .. id)
            local created, envelope = string.match(meta, '^%d+:%d+:(%d+):(.*)$')
            requeue(queue, base, id, id .. ':0:' .. (created or '0') .. ':' .. (envelope or ''))
            redis.call('DEL', base .. 'dead:' .. id)
            redis.call('ZREM', KEYS[1], id)
            n = n + 1
          end
        end
        return n
        """);
}
