using System.Text;

namespace ManycoreMail.Queue.Redis;

/// <summary>The key names of one queue, encoded once (queues are few and long-lived), and what the store has
/// learnt about its items.</summary>
internal sealed class RedisQueueKeys
{
    public RedisQueueKeys(string prefix, string queue)
    {
        Name = Encoding.UTF8.GetBytes(queue);
        var itemBase = $"{prefix}q:{queue}:";
        ItemBase = Encoding.UTF8.GetBytes(itemBase);
        Leased = Encoding.UTF8.GetBytes(itemBase + "leased");
        Scheduled = Encoding.UTF8.GetBytes(itemBase + "sched");
        Dead = Encoding.UTF8.GetBytes(itemBase + "dead");
        BodyBase = Encoding.UTF8.GetBytes(itemBase + "body:");
    }

    /// <summary>The lists that hold the body of a leased or scheduled item alone are this followed by the item's slot
    /// (<see cref="RespRequest.Add(ReadOnlySpan{byte}, long)"/>).</summary>
    public byte[] BodyBase { get; }

    /// <summary>The ready list: the queue's own name.</summary>
    public byte[] Name { get; }

    /// <summary>Prefix of the per-item keys ("item:", "body:", "meta:", "dead:", "deadbody:").</summary>
    public byte[] ItemBase { get; }

    public byte[] Leased { get; }

    public byte[] Scheduled { get; }

    public byte[] Dead { get; }

    /// <summary>Size of the largest item of a recent lease, to foresee how large a lease will be. A hint only: read and
    /// written without a lock by concurrent leases, any recent value will do.</summary>
    public int TypicalItemBytes { get; set; }
}
