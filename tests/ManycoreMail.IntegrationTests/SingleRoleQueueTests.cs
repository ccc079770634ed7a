using System.CommandLine;
using System.Text.RegularExpressions;
using ManycoreMail.Cli;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.Queue.Redis;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>
/// A role alone in its process (<c>mailer receiver</c>, ...) must share its queues: on Redis when the configuration
/// names one, otherwise it refuses to start; <c>mailer run</c> keeps the embedded spool.
/// </summary>
public sealed partial class SingleRoleQueueTests(TestWorld world) : IClassFixture<TestWorld>
{
    private const string IngressQueue = "IB-MAIL-QUEUE-P1";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("receiver")]
    [InlineData("http-receiver")]
    [InlineData("transformer")]
    [InlineData("sender")]
    [InlineData("mx-server")]
    [InlineData("backdata")]
    public async Task A_role_command_without_a_redis_server_configured_refuses_to_start_and_says_why(string role)
    {
        var config = new MailerConfig(world, "http://127.0.0.1:9/events").Write();
        await File.WriteAllTextAsync(config.CustomerFile, RedisSection().Replace(await File.ReadAllTextAsync(config.CustomerFile), ""));

        var (code, output) = await CliAsync(CancellationToken.None, role, "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile);

        Assert.Equal(2, code);
        Assert.Contains($"mailer {role} runs one role in its own process", output);
        Assert.Contains("reliable-queue/redis/hostname", output);
        Assert.False(Directory.Exists(Path.Combine(config.StoragePath, "spool")), "a refused role opened a spool");
    }

    [Fact]
    public async Task A_role_command_refuses_an_explicit_embedded_queue()
    {
        var config = new MailerConfig(world, "http://127.0.0.1:9/events").Write();

        var (code, output) = await CliAsync(CancellationToken.None, "receiver", "--queue", "embedded",
            "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile);

        Assert.Equal(2, code);
        Assert.Contains("mailer run --roles receiver", output);
        Assert.False(Directory.Exists(Path.Combine(config.StoragePath, "spool")), "a refused role opened a spool");
    }

    [Fact]
    public async Task A_role_command_with_a_redis_server_configured_queues_on_it()
    {
        using var redis = await RedisServer.StartAsync();
        var config = await WriteConfigOnAsync(redis);

        var submitted = await RunWhileAsync(["receiver", "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile], config, async () =>
        {
            await SubmitAsync(config);
            return await ReadyOnRedisAsync(redis);
        });

        Assert.Equal(1, submitted);
        Assert.False(Directory.Exists(Path.Combine(config.StoragePath, "spool")), "the receiver opened an embedded spool");
    }

    [Fact]
    public async Task Run_keeps_the_embedded_spool_even_when_a_redis_server_is_configured()
    {
        using var redis = await RedisServer.StartAsync();
        var config = await WriteConfigOnAsync(redis);

        var onRedis = await RunWhileAsync(["run", "--roles", "receiver", "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile], config, async () =>
        {
            await SubmitAsync(config);
            return await ReadyOnRedisAsync(redis);
        });

        Assert.Equal(0, onRedis);
        await using var spool = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(config.StoragePath, "spool") }, TimeProvider.System, CancellationToken.None);
        Assert.Equal(1, await spool.CountAsync(IngressQueue, CancellationToken.None));
    }

    private async Task<MailerConfig> WriteConfigOnAsync(RedisServer redis)
    {
        var config = new MailerConfig(world, "http://127.0.0.1:9/events") { TrustedNetworks = "[127.0.0.0/8]" }.Write();
        var customer = await File.ReadAllTextAsync(config.CustomerFile);
        await File.WriteAllTextAsync(config.CustomerFile, customer
            .Replace("hostname: localhost", "hostname: 127.0.0.1", StringComparison.Ordinal)
            .Replace("port: 6379", $"port: {redis.Port}", StringComparison.Ordinal));
        return config;
    }

    /// <summary>Runs the command until <paramref name="probe"/> is done, then stops it as SIGTERM would.</summary>
    private static async Task<T> RunWhileAsync<T>(string[] args, MailerConfig config, Func<Task<T>> probe)
    {
        using var stop = new CancellationTokenSource();
        var run = CliAsync(stop.Token, args);
        await Eventually.TrueAsync(() =>
        {
            Assert.False(run.IsCompleted, "the mailer exited: " + (run.IsCompletedSuccessfully ? run.Result.Output : run.Exception?.ToString()));
            return Listening(config.Receiver);
        }, Patience, "the receiver listening");
        try
        {
            return await probe();
        }
        finally
        {
            await stop.CancelAsync();
            var (code, output) = await run.WaitAsync(Patience);
            Assert.True(code == 0, output);
        }
    }

    private static async Task SubmitAsync(MailerConfig config)
    {
        var (code, output) = await Swaks.SendAsync(config.Receiver, Messages.Simple(Messages.NewUuid(), "someone@ok.test"));
        Assert.True(code == 0, output);
    }

    private static async Task<long> ReadyOnRedisAsync(RedisServer redis)
    {
        await using var store = await RedisQueueStore.ConnectAsync(new RedisClientOptions { Host = redis.Host, Port = redis.Port }, TimeProvider.System, null, CancellationToken.None);
        return await store.ReadyCountAsync(IngressQueue, CancellationToken.None);
    }

    private static bool Listening(System.Net.IPEndPoint endPoint)
    {
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            client.Connect(endPoint);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    private static async Task<(int Code, string Output)> CliAsync(CancellationToken cancellationToken, params string[] args)
    {
        using var output = new StringWriter();
        var code = await MailerCli.Build().Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = output }, cancellationToken);
        return (code, output.ToString());
    }

    /// <summary>A <c>reliable-queue: redis:</c> block of MailerConfig's customer file, with its three lines.</summary>
    [GeneratedRegex(@"\n +reliable-queue:\n +redis:\n +hostname: [^\n]*\n +port: [^\n]*")]
    private static partial Regex RedisSection();
}
