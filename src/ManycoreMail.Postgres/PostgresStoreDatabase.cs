using Npgsql;

namespace ManycoreMail.Postgres;

/// <summary>How the PostgreSQL stores that keep a table or two of their own (templates, idempotency keys, the schedule
/// ledger) open their database: a pooled data source, and their <c>CREATE ... IF NOT EXISTS</c> statements run in one
/// transaction, so that processes starting together all find the same tables.</summary>
public static class PostgresStoreDatabase
{
    /// <summary>A data source for <paramref name="connectionString"/> after <paramref name="createTables"/> ran; the caller
    /// owns it. Nothing is left open when this throws.</summary>
    public static async Task<NpgsqlDataSource> OpenAsync(string connectionString, string createTables, CancellationToken cancellationToken)
    {
        var dataSource = PostgresDataSources.Create(connectionString);
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (var command = new NpgsqlCommand(createTables, connection, transaction))
            {
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return dataSource;
        }
        catch
        {
            await dataSource.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
