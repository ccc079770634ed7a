using System.Globalization;
using ManycoreMail.TestSupport;

namespace ManycoreMail.EventStore.Tests;

/// <summary>One private cluster for a test class; each test takes a fresh database on it.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private int _databases;

    public PostgresServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await PostgresServer.StartAsync();

    public Task DisposeAsync()
    {
        Server?.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>A connection string for a database no other test uses.</summary>
    public Task<string> CreateDatabaseAsync() =>
        Server.CreateDatabaseAsync("events_" + Interlocked.Increment(ref _databases).ToString(CultureInfo.InvariantCulture));
}
