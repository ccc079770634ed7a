using ManycoreMail.Queue.Embedded;

namespace ManycoreMail.Queue.Tests;

/// <summary>The shared queue contract, run against the embedded SQLite spool.</summary>
public sealed class EmbeddedSpoolContractTests : QueueStoreContractTests
{
    private readonly TempDirectory _directory = new();

    protected override async Task<IQueueStore> CreateStoreAsync(TimeProvider time) =>
        await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = _directory.Sub("spool") }, time, CancellationToken.None);

    protected override bool ReopenReleasesLeases => true;

    protected override async Task<IQueueStore> ReopenStoreAsync(IQueueStore store, TimeProvider time)
    {
        await store.DisposeAsync();
        return await CreateStoreAsync(time);
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _directory.Dispose();
    }
}
