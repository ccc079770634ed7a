using ManycoreMail.Classification;
using ManycoreMail.Delivery;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Sender;

/// <summary>
/// <c>sender/sink: true</c>: delivery that connects nowhere. Each (message, domain) the sender would send to a site is
/// written as it would go on the wire, byte for byte, to <c>&lt;uuid&gt;-&lt;n&gt;.eml</c> in the outbox directory,
/// and its recipients are delivered; the envelope (recipient, return path, file) is in the delivered events.
/// </summary>
internal sealed class OutboxSink(string directory, SenderMetrics metrics, ILogger logger)
{
    /// <summary>The site name the sink's deliveries are counted under.</summary>
    public const string SiteName = "outbox";

    public string Directory => directory;

    public async Task<IReadOnlyList<RecipientOutcome>> StoreAsync(string? uuid, IReadOnlyList<string> recipients, string reversePath,
        ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        IReadOnlyList<RecipientOutcome> outcomes;
        try
        {
            var file = await WriteAsync(FileStem(uuid), message, cancellationToken).ConfigureAwait(false);
            logger.LogInformation("Message {Uuid}: written to {File} for {Recipients} (sender/sink: nothing is sent)",
                uuid, file, string.Join(", ", recipients));
            // The maillog line names the file where a real delivery names the MX host and its reply.
            var reply = "250 written to " + file;
            outcomes = recipients.Select(r => (RecipientOutcome)new RecipientOutcome.Delivered(r, null)
            {
                Outbox = new OutboxRecord(file, reversePath),
                MxHost = SiteName,
                Reply = reply,
            }).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A full or unwritable disk is trouble on our side: keep the message and try again, as after a refused connection.
            logger.LogWarning("Message {Uuid}: could not be written to the outbox {Directory}: {Error}", uuid, directory, e.Message);
            outcomes = recipients.Select(r => (RecipientOutcome)new RecipientOutcome.Deferred(r, "outbox: " + e.Message, false, BounceClass.Connection)).ToArray();
        }
        metrics.Record(SiteName, outcomes);
        return outcomes;
    }

    /// <summary>Writes the message to the first free <c>stem-n.eml</c> (a uuid may come again, and a message with
    /// recipients at several domains is one file per domain, as separate deliveries would be).</summary>
    private async Task<string> WriteAsync(string stem, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        System.IO.Directory.CreateDirectory(directory);
        for (var n = 1; ; n++)
        {
            var path = Path.Combine(directory, $"{stem}-{n}.eml");
            FileStream stream;
            try
            {
                stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
            }
            catch (IOException) when (File.Exists(path))
            {
                continue;
            }
            await using (stream.ConfigureAwait(false))
            {
                await stream.WriteAsync(message, cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }
            return path;
        }
    }

    /// <summary>The uuid when it is a safe file name (the receivers enforce [a-z0-9]+; a legacy producer might not).</summary>
    private static string FileStem(string? uuid) =>
        uuid is { Length: > 0 and <= 128 } && uuid.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_') ? uuid : "message";
}
