using System.Buffers;
using ManycoreMail.Roles.MxServer;

namespace ManycoreMail.IntegrationTests;

/// <summary>The unclassified-mail directory stays bounded: a size cap (oldest first) and a retention.</summary>
public sealed class MxEmlStoreTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "mm-eml-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task Past_the_size_cap_the_oldest_mails_are_deleted_and_the_new_one_kept()
    {
        var clock = new ManualClock(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var store = new EmlStore(_directory, maxBytes: 2500, retention: TimeSpan.Zero, clock);
        var paths = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            paths.Add(await store.SaveAsync(Mail(1000, (byte)('a' + i)), clock.GetUtcNow(), CancellationToken.None));
        }

        var left = Directory.GetFiles(_directory, "*.eml").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(paths[2..], left);
        Assert.Equal(2000, store.Bytes);
        Assert.Empty(Directory.GetFiles(_directory, "*.tmp"));
    }

    [Fact]
    public async Task A_mail_larger_than_the_cap_is_still_kept()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        var store = new EmlStore(_directory, maxBytes: 100, retention: TimeSpan.Zero, clock);
        var path = await store.SaveAsync(Mail(500, (byte)'x'), clock.GetUtcNow(), CancellationToken.None);
        Assert.Equal([path], Directory.GetFiles(_directory, "*.eml"));
    }

    [Fact]
    public async Task Mails_older_than_the_retention_are_deleted_at_open_and_while_mail_arrives()
    {
        var start = DateTimeOffset.UtcNow;
        var clock = new ManualClock(start);
        Directory.CreateDirectory(_directory);
        var ancient = Path.Combine(_directory, "20000101T000000000-old.eml");
        await File.WriteAllTextAsync(ancient, "old");
        File.SetLastWriteTimeUtc(ancient, start.UtcDateTime.AddDays(-3));

        var store = new EmlStore(_directory, maxBytes: 0, retention: TimeSpan.FromDays(2), clock);
        Assert.False(File.Exists(ancient));

        var first = await store.SaveAsync(Mail(10, (byte)'a'), clock.GetUtcNow(), CancellationToken.None);
        File.SetLastWriteTimeUtc(first, start.UtcDateTime);
        clock.Advance(TimeSpan.FromDays(2) + TimeSpan.FromMinutes(5));
        var second = await store.SaveAsync(Mail(10, (byte)'b'), clock.GetUtcNow(), CancellationToken.None);

        Assert.False(File.Exists(first));
        Assert.True(File.Exists(second));
    }

    [Fact]
    public async Task Stale_temporary_files_are_deleted_at_open_and_while_mail_arrives_and_fresh_ones_kept()
    {
        var start = DateTimeOffset.UtcNow;
        var clock = new ManualClock(start);
        Directory.CreateDirectory(_directory);
        var crashed = Path.Combine(_directory, "20000101T000000000-crashed.eml.tmp");
        var inProgress = Path.Combine(_directory, "20000101T000000000-writing.eml.tmp");
        await File.WriteAllTextAsync(crashed, "half a mail");
        File.SetLastWriteTimeUtc(crashed, (start - EmlStore.StaleTemporaryAge - TimeSpan.FromMinutes(1)).UtcDateTime);
        await File.WriteAllTextAsync(inProgress, "being written");
        File.SetLastWriteTimeUtc(inProgress, start.UtcDateTime);

        var store = new EmlStore(_directory, maxBytes: 0, retention: TimeSpan.Zero, clock);
        Assert.False(File.Exists(crashed));
        Assert.True(File.Exists(inProgress));

        clock.Advance(EmlStore.StaleTemporaryAge + TimeSpan.FromMinutes(1));
        var kept = await store.SaveAsync(Mail(10, (byte)'a'), clock.GetUtcNow(), CancellationToken.None);

        Assert.False(File.Exists(inProgress));
        Assert.True(File.Exists(kept));
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private static ReadOnlySequence<byte> Mail(int size, byte fill) => new(Enumerable.Repeat(fill, size).ToArray());

    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        private DateTimeOffset _now = now;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
