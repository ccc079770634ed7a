using ManycoreMail.Queue.Redis;

namespace ManycoreMail.Queue.Tests;

/// <summary>The shared queue contract, run against a real redis-server.</summary>
public sealed class RedisQueueStoreContractTests(RedisServerFixture redis) : QueueStoreContractTests, IClassFixture<RedisServerFixture>
{
    protected override async Task<IQueueStore> CreateStoreAsync(TimeProvider time) =>
        await RedisQueueStore.ConnectAsync(redis.ClientOptions, time, null, CancellationToken.None);

    // Other processes may hold leases on a shared server: closing proves nothing, leases just expire.
    protected override bool ReopenReleasesLeases => false;

    protected override async Task<IQueueStore> ReopenStoreAsync(IQueueStore store, TimeProvider time)
    {
        await store.DisposeAsync();
        return await CreateStoreAsync(time);
    }
}
