using ManycoreMail.Templates.Sqlite;
using Microsoft.Data.Sqlite;

namespace ManycoreMail.Templates.Tests;

public sealed class SqliteTemplateStoreTests : TemplateStoreContractTests
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("mm-templates-");

    private string FilePath => Path.Combine(_directory.FullName, "templates.db");

    protected override Task<ITemplateStore> OpenStoreAsync() => Task.FromResult<ITemplateStore>(SqliteTemplateStore.Open(FilePath));

    protected override Task DeleteStoreAsync()
    {
        _directory.Delete(recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task The_file_is_in_wal_mode()
    {
        await OpenAsync();
        await using var connection = new SqliteConnection($"Data Source={FilePath};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";

        Assert.Equal("wal", command.ExecuteScalar());
    }
}
