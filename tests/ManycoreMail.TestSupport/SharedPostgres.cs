using System.Globalization;

namespace ManycoreMail.TestSupport;

/// <summary>
/// A <see cref="PostgresServer"/> a test class shares (an xunit class fixture): started by the first test that asks
/// for it, stopped with the fixture. Each test takes a database of its own, so tests stay independent.
/// </summary>
public sealed class SharedPostgres : IDisposable
{
    private readonly Lazy<Task<PostgresServer>> _server = new(PostgresServer.StartAsync);
    private int _databases;

    public Task<PostgresServer> ServerAsync() => _server.Value;

    /// <summary>A connection string for a fresh database, named <paramref name="prefix"/> and a number.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix)
    {
        var server = await ServerAsync().ConfigureAwait(false);
        return await server.CreateDatabaseAsync(prefix + "_" + Interlocked.Increment(ref _databases).ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
    }

    public void Dispose()
    {
        if (_server.IsValueCreated && _server.Value.IsCompletedSuccessfully)
        {
            _server.Value.Result.Dispose();
        }
    }
}
