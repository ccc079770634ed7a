using ManycoreMail.Idempotency.Sqlite;

namespace ManycoreMail.Idempotency.Tests;

public sealed class SqliteIdempotencyStoreTests : IdempotencyStoreContractTests, IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("mm-idempotency-");

    protected override Task<IIdempotencyStore> OpenStoreAsync() =>
        Task.FromResult<IIdempotencyStore>(SqliteIdempotencyStore.Open(Path.Combine(_directory.FullName, "idempotency.db"), Time));

    public void Dispose() => _directory.Delete(recursive: true);
}
