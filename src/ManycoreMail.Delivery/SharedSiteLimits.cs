namespace ManycoreMail.Delivery;

/// <summary>
/// Where the part of a site's limits that several sender processes must honour together is kept (on
/// <c>--queue redis</c>, Redis). Each process still enforces the whole limits alone; the shared part keeps the cluster
/// as a whole within them, so that three sender pods do not send a provider three times its limits.
/// </summary>
internal interface ISiteLimitCoordinator
{
    /// <summary>The shared limits of <paramref name="site"/>, or null when this process's own limits are all there is.</summary>
    ISharedSiteLimits? Join(string site, SiteLimits limits);
}

/// <summary>One process alone (the embedded spool): nothing is shared, so sites do not even ask (no cost per message).</summary>
internal sealed class ProcessSiteLimits : ISiteLimitCoordinator
{
    public static readonly ProcessSiteLimits Instance = new();

    private ProcessSiteLimits()
    {
    }

    public ISharedSiteLimits? Join(string site, SiteLimits limits) => null;
}

/// <summary>The limits one site shares with the other sender processes.</summary>
internal interface ISharedSiteLimits
{
    /// <summary>A connection slot, held until disposed, when fewer than <paramref name="maxConnections"/> connections to
    /// the site are open across the cluster; null when every slot is taken (ask again later).</summary>
    ValueTask<IAsyncDisposable?> TryOpenConnectionAsync(int maxConnections, CancellationToken cancellationToken);

    /// <summary>Takes one delivery from the site's shared rates: <see cref="TimeSpan.Zero"/> when taken, else how long until
    /// one may be. <paramref name="waiting"/> is how many deliveries wait for the site here, which an implementation may
    /// take at once so that a busy site does not pay a round trip per message.</summary>
    ValueTask<TimeSpan> TakeDeliveryAsync(int waiting, CancellationToken cancellationToken);
}
