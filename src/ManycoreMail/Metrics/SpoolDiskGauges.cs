namespace ManycoreMail.Metrics;

/// <summary>The file system holding <c>storage/path</c> (the spool, the EML store, the event store): an alert fires
/// before it fills, since a full disk makes the receivers refuse every message.</summary>
internal static class SpoolDiskGauges
{
    public static void Register(MetricsRegistry metrics, string storagePath)
    {
        metrics.Gauge("mailer_spool_disk_free_bytes", $"Bytes free to this process on the file system of {storagePath}.",
            () => Read(storagePath, drive => drive.AvailableFreeSpace));
        metrics.Gauge("mailer_spool_disk_size_bytes", $"Size in bytes of the file system of {storagePath}.",
            () => Read(storagePath, drive => drive.TotalSize));
    }

    private static double Read(string storagePath, Func<DriveInfo, long> read)
    {
        try
        {
            return read(new DriveInfo(Path.GetFullPath(storagePath)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return double.NaN;
        }
    }
}
