using ManycoreMail.Config;
using ManycoreMail.Idempotency;
using ManycoreMail.Idempotency.Postgres;
using ManycoreMail.Idempotency.Sqlite;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Hosting;

/// <summary>Where the API's idempotency keys live, chosen as the template store is: with <c>events/store: postgresql</c>
/// in that database (table <c>idempotency_keys</c>, shared by every API process), otherwise SQLite in
/// <c>storage/path</c>/idempotency.db.</summary>
internal static class IdempotencyStores
{
    public const string SqliteFileName = "idempotency.db";

    public static async Task<IIdempotencyStore> OpenAsync(MailerOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Events.Postgresql is { } connectionString)
        {
            return await PostgresIdempotencyStore.OpenAsync(connectionString, cancellationToken, time).ConfigureAwait(false);
        }
        return SqliteIdempotencyStore.Open(Path.Combine(options.Storage.Path, SqliteFileName), time);
    }

    /// <summary>Deletes keys older than 24 hours, at start and then hourly.</summary>
    public static IMailerRole PurgeRole(IIdempotencyStore store, ILogger logger, TimeProvider time) =>
        HourlyPurge.Role("idempotency-purge", async stopping =>
        {
            var purged = await store.PurgeAsync(stopping).ConfigureAwait(false);
            if (purged > 0)
            {
                logger.LogInformation("Purged {Count} idempotency keys older than 24 hours", purged);
            }
            return purged;
        }, "the idempotency store", logger, time);
}
