using ManycoreMail.Queue.Redis;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Queue.Tests;

/// <summary>One real redis-server shared by the tests of a class; each test uses fresh key names.</summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    public RedisServer Server { get; private set; } = null!;

    // The server syncs its log on every write (appendfsync always); while the rest of the suite writes to the
    // same disk, one sync has been seen to take seconds, so a connection gets longer than the product's 5 s.
    public RedisClientOptions ClientOptions => new() { Host = Server.Host, Port = Server.Port, ConnectTimeout = TimeSpan.FromSeconds(30) };

    public async Task InitializeAsync() => Server = await RedisServer.StartAsync();

    public Task DisposeAsync()
    {
        Server?.Dispose();
        return Task.CompletedTask;
    }
}
