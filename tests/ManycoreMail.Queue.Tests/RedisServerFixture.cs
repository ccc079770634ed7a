using ManycoreMail.Queue.Redis;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Queue.Tests;

/// <summary>One real redis-server shared by the tests of a class; each test uses fresh key names.</summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    public RedisServer Server { get; private set; } = null!;

    public RedisClientOptions ClientOptions => new() { Host = Server.Host, Port = Server.Port };

    public async Task InitializeAsync() => Server = await RedisServer.StartAsync();

    public Task DisposeAsync()
    {
        Server?.Dispose();
        return Task.CompletedTask;
    }
}
