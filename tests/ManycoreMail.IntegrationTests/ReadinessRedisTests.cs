using System.Net;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary><c>/readyz</c> follows the queue store: a mailer process on Redis is not ready while redis-server is
/// killed and ready again once it is back; <c>/healthz</c> stays 200 throughout (the process itself is fine).</summary>
public sealed class ReadinessRedisTests(TestWorld world) : IClassFixture<TestWorld>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Readyz_is_503_while_redis_is_down_and_200_again_when_it_is_back()
    {
        using var webhook = new WebhookListener();
        using var cluster = await RedisCluster.StartAsync(world, webhook.Url);
        var exporter = cluster.Start("redis-metrics");
        await RedisCluster.WaitForPortAsync(new IPEndPoint(IPAddress.Loopback, cluster.ExporterPort), exporter);
        using var http = new HttpClient();
        var readyz = $"http://127.0.0.1:{cluster.ExporterPort}/readyz";
        await Eventually.TrueAsync(async () => (await http.GetAsync(readyz)).StatusCode == HttpStatusCode.OK, Patience, "ready with Redis up: " + cluster.Outputs());

        cluster.Redis.Kill();

        var down = await Eventually.GetAsync(async () =>
        {
            using var response = await http.GetAsync(readyz);
            return response.StatusCode == HttpStatusCode.ServiceUnavailable ? await response.Content.ReadAsStringAsync() : null;
        }, Patience, "503 with Redis down");
        Assert.Contains("queue store", down);
        Assert.Equal("ok", await http.GetStringAsync($"http://127.0.0.1:{cluster.ExporterPort}/healthz"));

        await cluster.Redis.RestartAsync();

        await Eventually.TrueAsync(async () => (await http.GetAsync(readyz)).StatusCode == HttpStatusCode.OK, Patience, "ready again with Redis back: " + cluster.Outputs());
    }
}
