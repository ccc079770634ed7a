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
    IReadOnlyList<SiteView> Sites, IReadOnlyList<string> SuspendedQueues, IReadOnlyList<string> BouncedQueues)
{
    /// <summary>The egress sources by pool, with their warm-up progress today.</summary>
    public IReadOnlyList<SourceView> Sources { get; init; } = [];
    /// <summary>Adaptive shaping's suspensions and throttles standing now (lifted by <c>mailer site resume</c>).</summary>
    public IReadOnlyList<AdaptiveView> Adaptive { get; init; } = [];
}

/// <summary>One egress source: where it sends from, as whom, its share, an adaptive suspension, its warm-up today.</summary>
internal sealed record SourceView(string Pool, string Name, string? Address, string? HeloName, int Weight, DateTimeOffset? SuspendedUntil,
    IReadOnlyList<WarmUpView> WarmUp);

/// <summary>Today's count and cap of a warming source for a provider it has been used for.</summary>
internal sealed record WarmUpView(string Provider, int Sent, int Cap);

/// <summary>An adaptive action standing on a site or a source.</summary>
internal sealed record AdaptiveView(string Target, string Rule, string Action, DateTimeOffset Until, string Reply);

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
        return new QueuesView(durable, scheduled, sites, Engine.SuspendedQueues.ToArray(), bounced) { Sources = Sources(), Adaptive = Adaptive() };
    }

    private SourceView[] Sources()
    {
        var pools = Engine.Pools;
        var suspended = pools.SuspendedSources.ToDictionary(s => s.Key, s => s.Value, StringComparer.OrdinalIgnoreCase);
        var progress = pools.WarmUp.Progress(pools.Sources, EgressProviders.Names(options.Delivery.ShapingRules));
        return pools.Options.Pools.SelectMany(pool => pool.Sources.Select(s => new SourceView(pool.Name, s.Name, s.Address?.ToString(), s.HeloName ?? options.HeloName,
                s.Weight, suspended.TryGetValue(s.Name, out var until) ? until : null,
                progress.Where(p => p.Source == s.Name && p.Sent > 0).Select(p => new WarmUpView(p.Provider, p.Sent, p.Cap)).ToArray())))
            .ToArray();
    }

    private AdaptiveView[] Adaptive()
    {
        var sites = Engine.Sites.SelectMany(site => site.ActiveAdaptations.Select(a => new AdaptiveView("site " + site.Name, a.Rule, a.Action, a.Until, a.Reply)));
        var sources = Engine.Pools.SuspendedSources.Select(s => new AdaptiveView("source " + s.Key, "", "suspend", s.Value, ""));
        return sites.Concat(sources).OrderBy(a => a.Target, StringComparer.Ordinal).ToArray();
    }

    /// <summary>By durable id or X-Uuid; null when this process does not know the message.</summary>
    public MessageView? Inspect(string key) => sender.Ledger.Find(key) is { } e
        ? new MessageView(e.Id, e.Uuid, e.State == LedgerState.Delivering ? "delivering" : "deferred", e.Recipients, e.Attempts,
            e.UncountedAttempts, e.CreatedAt, e.RetryAt, e.LastError)
        : null;

    /// <summary>Suspends or resumes a site. Resuming also lifts what adaptive shaping put on it (a suspension, a throttle)
    /// and its back-off; <paramref name="name"/> may also be a source that adaptive shaping suspended.</summary>
    public AdminResult? SuspendSite(string name, bool suspend)
    {
        if (!Engine.SuspendSite(name, suspend))
        {
            return !suspend && Engine.ResumeSource(name) ? new AdminResult($"source {name} resumed (adaptive suspension lifted)", 1) : null;
        }
        var site = Engine.FindSite(name);
        if (suspend)
        {
            return new AdminResult($"site {site?.Name ?? name} suspended", 1);
        }
        var adaptive = site is not null && Engine.ClearAdaptation(site);
        return new AdminResult($"site {site?.Name ?? name} resumed" + (adaptive ? " (adaptive suspension or throttle lifted)" : ""), 1);
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
