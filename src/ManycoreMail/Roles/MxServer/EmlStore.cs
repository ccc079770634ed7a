using System.Buffers;
using ManycoreMail.Hosting;

namespace ManycoreMail.Roles.MxServer;

/// <summary>
/// Keeps received mails as files with unique names (the original numbered them from 1 at every start and so
/// overwrote older ones). A file is synced before the sender hears 250. The directory is bounded: files older
/// than the retention are deleted, and while the files together exceed the size cap the oldest go first. Both are
/// enforced when the store opens and whenever a mail is kept (at most once a minute, or at once when a new mail
/// takes the total over the cap), so an idle MX costs nothing. A mail is written to a temporary file first; the
/// directory is synced after the rename (the new name survives a crash, not just the bytes), and the same sweeps
/// delete temporary files older than <see cref="StaleTemporaryAge"/> (left by a crash between write and rename).
/// </summary>
internal sealed class EmlStore
{
    // A sweep reads the whole directory; a bound keeps a pathological directory from stalling a session.
    private const int MaxFilesPerSweep = 200_000;
    private static readonly TimeSpan SweepInterval = TimeSpan.FromMinutes(1);
    private const string TemporarySuffix = ".tmp";

    /// <summary>A temporary file this old belongs to no write in progress: a write takes at most one SMTP DATA,
    /// which the session's limits end long before.</summary>
    public static readonly TimeSpan StaleTemporaryAge = TimeSpan.FromHours(1);

    private readonly string _directory;
    private readonly long _maxBytes;
    private readonly TimeSpan _retention;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _sweeping = new(1, 1);
    private long _bytes;
    private long _nextSweepTicks;

    /// <param name="directory">Where the files go.</param>
    /// <param name="maxBytes">Cap on the files' total size; 0 for none.</param>
    /// <param name="retention">How long a file is kept; <see cref="TimeSpan.Zero"/> for ever.</param>
    /// <param name="time">The clock retention is measured with.</param>
    public EmlStore(string directory, long maxBytes = 0, TimeSpan retention = default, TimeProvider? time = null)
    {
        _directory = directory;
        _maxBytes = maxBytes;
        _retention = retention;
        _time = time ?? TimeProvider.System;
        Directory.CreateDirectory(directory);
        Sweep(null);
    }

    /// <summary>The files' total size as last counted (for tests and metrics).</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    public async ValueTask<string> SaveAsync(ReadOnlySequence<byte> message, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // What follows waits for the disk without awaiting (fsync, rename, the sweep's directory scan). The SMTP
        // session calls in on the socket's own event thread (socket completions run inline), so leave it first.
        await Task.Yield();
        Directory.CreateDirectory(_directory);
        var name = $"{now:yyyyMMddTHHmmssfff}-{Guid.NewGuid():N}.eml";
        var path = Path.Combine(_directory, name);
        var temporary = path + TemporarySuffix;
        var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
        await using (stream.ConfigureAwait(false))
        {
            foreach (var segment in message)
            {
                await stream.WriteAsync(segment, cancellationToken).ConfigureAwait(false);
            }
            stream.Flush(flushToDisk: true);
        }
        // Renamed only once complete, so a reader never sees half a mail.
        File.Move(temporary, path);
        DirectorySync.Flush(_directory);

        var total = Interlocked.Add(ref _bytes, message.Length);
        var overCap = _maxBytes > 0 && total > _maxBytes;
        if ((overCap || _time.GetUtcNow().UtcTicks >= Interlocked.Read(ref _nextSweepTicks)) && await _sweeping.WaitAsync(0, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                Sweep(path);
            }
            finally
            {
                _sweeping.Release();
            }
        }
        return path;
    }

    /// <summary>Deletes expired files, then the oldest until the total fits the cap; never <paramref name="keep"/>
    /// (the mail just stored, which the sender was about to be told is accepted).</summary>
    private void Sweep(string? keep)
    {
        var now = _time.GetUtcNow();
        Interlocked.Exchange(ref _nextSweepTicks, (now + SweepInterval).UtcTicks);
        DeleteStaleTemporaries(now);
        var files = new List<FileInfo>();
        foreach (var file in new DirectoryInfo(_directory).EnumerateFiles("*.eml"))
        {
            files.Add(file);
            if (files.Count >= MaxFilesPerSweep)
            {
                break;
            }
        }
        // Names start with the receiving time, so name order is age order even if a file's mtime was touched.
        files.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        var total = files.Sum(f => f.Length);
        var oldestKept = _retention > TimeSpan.Zero ? now - _retention : DateTimeOffset.MinValue;
        foreach (var file in files)
        {
            var expired = file.LastWriteTimeUtc < oldestKept.UtcDateTime;
            var overCap = _maxBytes > 0 && total > _maxBytes;
            if (!expired && !overCap)
            {
                break;
            }
            if (file.FullName == keep)
            {
                continue;
            }
            try
            {
                file.Delete();
                total -= file.Length;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Deleted by someone else meanwhile, or busy: counted again at the next sweep.
            }
        }
        Interlocked.Exchange(ref _bytes, total);
    }

    private void DeleteStaleTemporaries(DateTimeOffset now)
    {
        var staleBefore = (now - StaleTemporaryAge).UtcDateTime;
        foreach (var file in new DirectoryInfo(_directory).EnumerateFiles("*" + TemporarySuffix).Take(MaxFilesPerSweep))
        {
            if (file.LastWriteTimeUtc >= staleBefore)
            {
                continue;
            }
            try
            {
                file.Delete();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone already, or not ours to delete: looked at again at the next sweep.
            }
        }
    }
}
