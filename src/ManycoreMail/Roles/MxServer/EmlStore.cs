using System.Buffers;

namespace ManycoreMail.Roles.MxServer;

/// <summary>Keeps received mails as files with unique names (the original numbered them from 1 at every
/// start and so overwrote older ones). A file is synced before the sender hears 250.</summary>
internal sealed class EmlStore(string directory)
{
    public async ValueTask<string> SaveAsync(ReadOnlySequence<byte> message, DateTimeOffset now, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        var name = $"{now:yyyyMMddTHHmmssfff}-{Guid.NewGuid():N}.eml";
        var path = Path.Combine(directory, name);
        var temporary = path + ".tmp";
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
        return path;
    }
}
