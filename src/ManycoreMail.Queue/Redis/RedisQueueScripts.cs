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
/// <item>PqQ:item:&lt;id&gt;: HASH m=metadata, t=lease token, d=digest of the body, for items leased or scheduled.
///   A lease first takes its bodies into slots (ids of their own) and then pairs each with its metadata, moving
///   it to the metadata's id; a slot never paired (its holder died in between) has no m.</item>
/// <item>PqQ:body:&lt;id&gt;: LIST holding the body of that item alone. A body is moved between Q and its own
///   list with LMOVE, which Redis logs as the command, not the bytes: a lease or a retry writes tens of bytes
///   to the append-only file whatever the size of the message, and the body is written there once, when it is
///   pushed.</item>
/// <item>PqQ:leased: ZSET id by lease expiry (ms); PqQ:sched: ZSET id by due time (ms).</item>
/// <item>PqQ:dead: ZSET id by time of death; PqQ:dead:&lt;id&gt;: HASH m, r=reason, at, d;
///   PqQ:deadbody:&lt;id&gt;: LIST with the body (renamed from its body list).</item>
/// <item>Pids, Ptokens: counters for item ids (and lease slots) and lease tokens.</item>
/// <item>Pstage:&lt;unique&gt;: LIST with one new scheduled body between its RPUSH and its RENAME to the body list,
///   both in the MULTI of one commit; it never outlives the transaction.</item>
/// </list>
/// Metadata is "id:attempts:createdMs:envelopeJson". An item pushed by somebody else (the original's
/// modules) has none; it gets an id, no envelope, and its creation time is when it was first leased.
/// Keys built inside the scripts are not declared in KEYS, which a Redis Cluster would refuse;
/// this store targets one Redis server (with replicas), as the original did.
/// </remarks>
internal static class RedisQueueScripts
{
    /// <summary>
    /// The digest that pairs a ready body with its metadata, as <see cref="RedisBodyDigest"/> computes it on the
    /// client: used by <see cref="LeaseHere"/> (leases of small items) and for an item stored before its digest was
    /// kept beside it.
    /// </summary>
    internal const string Digest = """
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
    /// body moves, its item hash goes. The metadata goes on the list of its digest (<c>d</c>, kept since the item
    /// was paired; an item stored before that was kept is read and hashed once). An item without metadata (leased
    /// but never paired: its holder died between the two calls of a lease) leaves its metadata where it still is.
    /// Used by <see cref="Lease"/> and <see cref="LeaseHere"/> (expired leases, due retries), <see cref="Commit"/> (releases, retries due now)
    /// and <see cref="Revive"/>. Not on the hot path: an LMOVE run by a script hands the body to Lua, which hashes
    /// every byte of it.</summary>
    private const string Requeue = """
        local function requeue(queue, base, id, meta, d)
          local body = base .. 'body:' .. id
          if redis.call('EXISTS', body) == 1 then
            if meta then
              if not d then d = digest(redis.call('LINDEX', body, 0)) end
              redis.call('RPUSH', base .. 'meta:' .. d, meta)
            end
            redis.call('LMOVE', body, queue, 'LEFT', 'RIGHT')
          end
          redis.call('DEL', base .. 'item:' .. id)
        end

        """;

    /// <summary>Sweeps due retries and expired leases back onto the ready list, at most <c>limit</c> of each; every lease
    /// starts with it.</summary>
    private const string Sweep = """
        local function sweep(q, leased, sched, base, now, limit)
          for _, zset in ipairs({ sched, leased }) do
            for _, id in ipairs(redis.call('ZRANGEBYSCORE', zset, '-inf', now, 'LIMIT', 0, limit)) do
              local f = redis.call('HMGET', base .. 'item:' .. id, 'm', 'd')
              requeue(q, base, id, f[1], f[2])
              redis.call('ZREM', zset, id)
            end
          end
        end

        """;

    /// <summary>The first part of a lease of large items, sent inside MULTI before one
    /// <c>LMOVE Q Pbody:&lt;slot&gt; LEFT RIGHT</c> per slot: sweeps, then leases as many slots as the list has items
    /// (the LMOVEs that follow in the same transaction fill exactly those). The bodies never pass through Lua: Redis'
    /// Lua hashes every byte of a string it is handed, a fifth of Redis' time at 100 KB. <see cref="Pair"/> follows.
    /// KEYS: Q, leased, sched, tokens. ARGV: item key base, now, lease expiry, sweep limit, then the slot ids.
    /// Returns { token before the first, slots leased }.</summary>
    public static readonly RedisScript Lease = new(Digest + Requeue + Sweep + """
        local q, leased, sched = KEYS[1], KEYS[2], KEYS[3]
        local base, now, expires = ARGV[1], ARGV[2], ARGV[3]
        sweep(q, leased, sched, base, now, tonumber(ARGV[4]))
        local k = math.min(#ARGV - 4, redis.call('LLEN', q))
        if k == 0 then return { 0, 0 } end
        local token = redis.call('INCRBY', KEYS[4], k) - k
        for n = 1, k do
          local id = ARGV[4 + n]
          redis.call('HSET', base .. 'item:' .. id, 't', token + n)
          redis.call('ZADD', leased, expires, id)
        end
        return { token, k }
        """);

    /// <summary>A whole lease of small items in one call: sweeps, then moves as many bodies as the list has (up to the
    /// slots given) each into a slot, pairs it with the metadata at the head of its digest's list and moves it to the
    /// metadata's id (an item pushed by somebody else has none: it keeps the slot as its id). The bodies pass through
    /// Lua, which is cheap for small ones (see <see cref="RedisQueueStore.PairHereItemBytes"/>), and are answered from
    /// here; no slot is moved that finds the list empty. LMOVE and RENAME reach the append-only file as commands, not
    /// bytes. KEYS: Q, leased, sched, tokens. ARGV: item key base, now, lease expiry, sweep limit, then the slot ids.
    /// Returns { token before the first, then per item its metadata and its body }.</summary>
    public static readonly RedisScript LeaseHere = new(Digest + Requeue + Sweep + """
        local q, leased, sched = KEYS[1], KEYS[2], KEYS[3]
        local base, now, expires = ARGV[1], ARGV[2], ARGV[3]
        sweep(q, leased, sched, base, now, tonumber(ARGV[4]))
        local k = math.min(#ARGV - 4, redis.call('LLEN', q))
        if k == 0 then return { 0 } end
        local token = redis.call('INCRBY', KEYS[4], k) - k
        local out = { token }
        for n = 1, k do
          local slot = ARGV[4 + n]
          local body = redis.call('LMOVE', q, base .. 'body:' .. slot, 'LEFT', 'RIGHT')
          local d = digest(body)
          local meta = redis.call('LPOP', base .. 'meta:' .. d)
          local id = meta and string.match(meta, '^(%d+):')
          if id then
            redis.call('RENAME', base .. 'body:' .. slot, base .. 'body:' .. id)
          else
            id = slot
            meta = slot .. ':0:' .. now .. ':'
          end
          redis.call('HSET', base .. 'item:' .. id, 't', token + n, 'm', meta, 'd', d)
          redis.call('ZADD', leased, expires, id)
          out[#out + 1] = meta
          out[#out + 1] = body
        end
        return out
        """);

    /// <summary>Pairs one leased slot with the metadata at the head of its digest's list and moves it to the
    /// metadata's id (an item pushed by somebody else has none: it keeps the slot as its id). Returns the metadata.</summary>
    private const string PairOne = """
        local function pair(leased, base, now, expires, slot, d)
          local item = base .. 'item:' .. slot
          local meta = redis.call('LPOP', base .. 'meta:' .. d)
          local id = meta and string.match(meta, '^(%d+):')
          if not id then
            id = slot
            meta = slot .. ':0:' .. now .. ':'
          end
          if id ~= slot then
            redis.call('RENAME', base .. 'body:' .. slot, base .. 'body:' .. id)
            redis.call('RENAME', item, base .. 'item:' .. id)
            redis.call('ZREM', leased, slot)
            redis.call('ZADD', leased, expires, id)
            item = base .. 'item:' .. id
          end
          redis.call('HSET', item, 'm', meta, 'd', d)
          return meta
        end

        """;

    /// <summary>The second half of a lease of large items: pairs each leased body with its metadata by the digest the
    /// client computed (<see cref="RedisBodyDigest"/>), and moves the item to its own id when it has one.
    /// KEYS: leased. ARGV: item key base, now, lease expiry, then per item: slot, token, digest.
    /// Returns per item its metadata, or false when the slot's lease is no longer held.</summary>
    public static readonly RedisScript Pair = new(PairOne + """
        local leased, base, now, expires = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
        local out = {}
        for i = 4, #ARGV, 3 do
          if redis.call('HGET', base .. 'item:' .. ARGV[i], 't') ~= ARGV[i + 1] then
            out[#out + 1] = false
          else
            out[#out + 1] = pair(leased, base, now, expires, ARGV[i], ARGV[i + 2])
          end
        end
        return out
        """);

    /// <summary>Stride of one operation in <see cref="Commit"/>'s ARGV.</summary>
    public const int CommitStride = 8;

    /// <summary>Commits the transactions of a group (<see cref="RedisCommitGroups"/>), each standing or falling alone.
    /// Sent as EVAL inside MULTI after one RPUSH per enqueued item: onto its queue when it is due now, else onto a
    /// stage of its own (Pstage:...) that the script renames to the item's body list. A new body thus reaches Redis
    /// once, as a plain command (never as a Lua string, which Redis' Lua hashes byte by byte), and is never copied
    /// again; EVAL, not EVALSHA, so that the script always runs after the pushes it completes. Every lease of a
    /// transaction is checked before anything of it is written; a transaction that lost one applies nothing, and its
    /// bodies pushed onto a queue are taken back: the pushes of the MULTI are the tail of their lists, in order, so
    /// each is found by its position, overwritten with the mark and removed by it (LSET, LREM), never read into Lua.
    /// Its staged bodies stay where they are for the DEL that follows the script. An item settled by an earlier
    /// transaction of the group counts as lost to a later one, as it would if they had run one after the other.
    /// KEYS: ids. ARGV: prefix, now, take-back mark, then per transaction: its number of operations and per
    /// operation: kind, queue, id, token, due, meta or reason, stage, digest. Kinds: E enqueue (meta without its
    /// id; stage empty when due now), C complete, R retry or release (full meta), D dead-letter.
    /// A push onto a key that holds something else than a list failed inside the MULTI without stopping it; its
    /// transaction fails here too (WRONGTYPE), rather than leave metadata without a body.
    /// Returns per transaction 1, or why it applied nothing: 'LEASELOST queue id' for the first lease it lost.</summary>
    public static readonly RedisScript Commit = new(Digest + Requeue + """
        local p, now, mark = ARGV[1], tonumber(ARGV[2]), ARGV[3]
        local function apply(first, last)
          for i = first, last, 8 do
            local kind, queue, id, due = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 4])
            local base = p .. 'q:' .. queue .. ':'
            if kind == 'E' then
              local nid = tostring(redis.call('INCR', KEYS[1]))
              local meta = nid .. ':' .. ARGV[i + 5]
              local stage, d = ARGV[i + 6], ARGV[i + 7]
              if stage == '' then
                redis.call('RPUSH', base .. 'meta:' .. d, meta)
              else
                redis.call('RENAME', stage, base .. 'body:' .. nid)
                redis.call('HSET', base .. 'item:' .. nid, 'm', meta, 'd', d)
                redis.call('ZADD', base .. 'sched', due, nid)
              end
            else
              local item = base .. 'item:' .. id
              redis.call('ZREM', base .. 'leased', id)
              if kind == 'C' then
                redis.call('DEL', item, base .. 'body:' .. id)
              elseif kind == 'R' then
                if due <= now then
                  requeue(queue, base, id, ARGV[i + 5], redis.call('HGET', item, 'd'))
                else
                  redis.call('HSET', item, 'm', ARGV[i + 5])
                  redis.call('HDEL', item, 't')
                  redis.call('ZADD', base .. 'sched', due, id)
                end
              elseif kind == 'D' then
                local f = redis.call('HMGET', item, 'm', 'd')
                redis.call('HSET', base .. 'dead:' .. id, 'm', f[1] or (id .. ':0:0:'), 'r', ARGV[i + 5], 'at', ARGV[2])
                if f[2] then redis.call('HSET', base .. 'dead:' .. id, 'd', f[2]) end
                if redis.call('EXISTS', base .. 'body:' .. id) == 1 then
                  redis.call('RENAME', base .. 'body:' .. id, base .. 'deadbody:' .. id)
                end
                redis.call('ZADD', base .. 'dead', now, id)
                redis.call('DEL', item)
              end
            end
          end
        end
        local groups, settled, pushed, back, lists = {}, {}, {}, {}, {}
        local i = 4
        while i <= #ARGV do
          local first, last = i + 1, i + 8 * tonumber(ARGV[i])
          local lost, mine = false, {}
          for j = first, last, 8 do
            if ARGV[j] ~= 'E' then
              local item = p .. 'q:' .. ARGV[j + 1] .. ':item:' .. ARGV[j + 2]
              if not lost and (settled[item] or mine[item] or redis.call('HGET', item, 't') ~= ARGV[j + 3]) then
                lost = 'LEASELOST ' .. ARGV[j + 1] .. ' ' .. ARGV[j + 2]
              end
              mine[item] = true
            end
          end
          for j = first, last, 8 do
            local q = ARGV[j + 1]
            if ARGV[j] == 'E' and ARGV[j + 6] == '' then
              if lists[q] == nil then lists[q] = redis.call('TYPE', q).ok == 'list' end
              if not lists[q] then lost = lost or ('WRONGTYPE the key ' .. q .. ' holds no list') end
            end
          end
          for j = first, last, 8 do
            local q = ARGV[j + 1]
            if ARGV[j] == 'E' and ARGV[j + 6] == '' and lists[q] then
              pushed[q] = (pushed[q] or 0) + 1
              if lost then back[#back + 1] = { q, pushed[q] } end
            end
          end
          if not lost then
            for item in pairs(mine) do settled[item] = true end
          end
          groups[#groups + 1] = { first, last, lost }
          i = last + 1
        end
        if #back > 0 then
          local marked, order = {}, {}
          for _, b in ipairs(back) do
            local q = b[1]
            redis.call('LSET', q, b[2] - pushed[q] - 1, mark)
            if not marked[q] then order[#order + 1] = q; marked[q] = 0 end
            marked[q] = marked[q] + 1
          end
          for _, q in ipairs(order) do redis.call('LREM', q, -marked[q], mark) end
        end
        local out = {}
        for g, group in ipairs(groups) do
          if group[3] then
            out[g] = group[3]
          else
            apply(group[1], group[2])
            out[g] = 1
          end
        end
        return out
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
          local f = redis.call('HMGET', base .. 'dead:' .. id, 'm', 'd')
          local meta = f[1]
          if meta and redis.call('EXISTS', base .. 'deadbody:' .. id) == 1 then
            redis.call('RENAME', base .. 'deadbody:' .. id, base .. 'body:' .. id)
            local created, envelope = string.match(meta, '^%d+:%d+:(%d+):(.*)$')
            requeue(queue, base, id, id .. ':0:' .. (created or '0') .. ':' .. (envelope or ''), f[2])
            redis.call('DEL', base .. 'dead:' .. id)
            redis.call('ZREM', KEYS[1], id)
            n = n + 1
          end
        end
        return n
        """);
}
