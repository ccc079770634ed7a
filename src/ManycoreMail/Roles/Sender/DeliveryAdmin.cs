using System.Text.Json;
using System.Text.Json.Serialization;
using ManycoreMail.Config;
using ManycoreMail.Delivery;
using ManycoreMail.Queue;

namespace ManycoreMail.Roles.Sender;

/// <summary>A durable queue and its length.</summary>
internal sealed record DurableQueueView(string Name, long Count);

/// <summary>A scheduled queue (campaign:tenant@domain): deliveries in memory now, messages deferred by this process,
/// and whether an operator holds or bounced it.</summary>
internal sealed record ScheduledQueueView(string Name, int InDelivery, int Deferred, bool Suspended, bool Bounced);

internal sealed record SiteView(string Name, int Ready, int Connections, bool Suspended, DateTimeOffset? BackoffUntil);

internal sealed record QueuesView(IReadOnlyList<DurableQueueView> Durable, IReadOnlyList<ScheduledQueueView> Scheduled,
    IReadOnlyList<SiteView> Sites, IReadOnlyList<string> SuspendedQueues, IReadOnlyList<string> BouncedQueues);

internal sealed record MessageView(long Id, string? Uuid, string State, IReadOnlyList<LedgerRecipient> Recipients, int Attempts,
    int UncountedAttempts, DateTimeOffset CreatedAt, DateTimeOffset? RetryAt, string? LastError);

/// <summary>The answer to an operation: what it did, in words an operator reads, and a count where one applies.</summary>
internal sealed record AdminResult(string Detail, int Count = 0);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(QueuesView))]
[JsonSerializable(typeof(MessageView))]
[JsonSerializable(typeof(AdminResult))]
internal sealed partial class AdminJson : JsonSerializerContext;

/// <summary>
/// The sender's operations: list queues, inspect a message, suspend / resume a site or a scheduled queue, bounce a
/// queue, retry now. Durable counts come from the queue store; everything finer comes from this process's memory
/// (the queue contracts cannot browse or re-time items): a message deferred before a restart is visible again once it
/// falls due. "Retry now" therefore lifts site back-offs; a message waiting for its own retry time keeps it.
/// </summary>
internal sealed class DeliveryAdmin(SenderRole sender, IQueueStore store, QueueNames queues, SenderOptions options)
{
    private DeliveryEngine Engine => sender.Engine;

    /// <param name="tenant">Only the scheduled queues of this tenant (null: all).</param>
    /// <param name="campaign">Only the scheduled queues of this campaign (null: all).</param>
    public async Task<QueuesView> QueuesAsync(CancellationToken cancellationToken, string? tenant = null, string? campaign = null)
    {
        var durable = new List<DurableQueueView>();
        foreach (var name in new[] { queues.Primary, queues.Default, queues.Outbound, queues.Events }.Distinct(StringComparer.Ordinal))
        {
            durable.Add(new DurableQueueView(name, await store.CountAsync(name, cancellationToken).ConfigureAwait(false)));
        }
        var inDelivery = Engine.ScheduledCounts.ToDictionary(q => q.Key, q => q.Value, StringComparer.OrdinalIgnoreCase);
        var deferred = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in sender.Ledger.Entries)
        {
            if (entry.State != LedgerState.Deferred)
            {
                continue;
            }
            foreach (var queue in entry.Recipients.Select(r => r.Queue).Distinct(StringComparer.OrdinalIgnoreCase))
            {
                deferred[queue] = deferred.GetValueOrDefault(queue) + 1;
            }
        }
        var bounced = Engine.BouncedQueues.Select(b => b.Key).ToArray();
        var scheduled = inDelivery.Keys.Union(deferred.Keys, StringComparer.OrdinalIgnoreCase)
            .Where(q => ScheduledQueueName.Belongs(q, tenant, campaign))
            .Order(StringComparer.Ordinal)
            .Select(q => new ScheduledQueueView(q, inDelivery.GetValueOrDefault(q), deferred.GetValueOrDefault(q), Engine.IsQueueSuspended(q),
                bounced.Any(p => ScheduledQueueName.Matches(p, q))))
            .ToArray();
        var sites = Engine.Snapshot().Select(s => new SiteView(s.Name, s.Ready, s.Connections, s.Suspended, s.BackoffUntil)).ToArray();
        return new QueuesView(durable, scheduled, sites, Engine.SuspendedQueues.ToArray(), bounced);
    }

    /// <summary>By durable id or X-Uuid; null when this process does not know the message.</summary>
    public MessageView? Inspect(string key) => sender.Ledger.Find(key) is { } e
        ? new MessageView(e.Id, e.Uuid, e.State == LedgerState.Delivering ? "delivering" : "deferred", e.Recipients, e.Attempts,
            e.UncountedAttempts, e.CreatedAt, e.RetryAt, e.LastError)
        : null;

    public AdminResult? SuspendSite(string name, bool suspend)
    {
        if (Engine.FindSite(name) is not { } site)
        {
            return null;
        }
        site.Suspend(suspend);
        return new AdminResult(suspend ? $"site {site.Name} suspended" : $"site {site.Name} resumed", 1);
    }

    public AdminResult SuspendQueue(string pattern)
    {
        Engine.SuspendQueue(pattern);
        return new AdminResult($"queue {pattern} suspended", 1);
    }

    public AdminResult ResumeQueue(string pattern) => Engine.ResumeQueue(pattern)
        ? new AdminResult($"queue {pattern} resumed", 1)
        : new AdminResult($"queue {pattern} was not suspended");

    public AdminResult BounceQueue(string pattern)
    {
        // Any message of the queue falls due within its lifetime; after the longest one none can be left.
        var standFor = options.Delivery.QueueLifetimes.Select(l => l.Lifetime).Append(options.MaxQueueLifetime).Max();
        var now = Engine.BounceQueue(pattern, standFor);
        var waiting = sender.Ledger.Entries.Count(e => e.State == LedgerState.Deferred && e.Recipients.Any(r => ScheduledQueueName.Matches(pattern, r.Queue)));
        return new AdminResult($"queue {pattern}: {now} recipient(s) bounced now; {waiting} deferred message(s) known to this process "
            + "(and any other of the queue) bounce when they next fall due", now);
    }

    public AdminResult RetryNow(string? site)
    {
        var lifted = Engine.RetryNow(site);
        var waiting = sender.Ledger.Entries.Count(e => e.State == LedgerState.Deferred);
        return new AdminResult($"back-off lifted on {lifted} site(s); {waiting} deferred message(s) keep their retry time", lifted);
    }
}
