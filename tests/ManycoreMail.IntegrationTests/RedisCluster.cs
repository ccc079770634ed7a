using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>
/// A real redis-server (AOF, appendfsync always) and the mailer's roles as real processes on it
/// (<c>dotnet mailer.dll &lt;role&gt; --queue redis</c>), plus the submitting clients the Redis tests use.
/// Dispose kills every process and the server.
/// </summary>
internal sealed partial class RedisCluster : IDisposable
{
    /// <summary>Short, so the items of a killed process are back on their queue within seconds.</summary>
    public const int LeaseSeconds = 6;

    private readonly List<PeerProcess> _processes = [];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    private RedisCluster(RedisServer redis, MailerConfig config)
    {
        Redis = redis;
        Config = config;
    }

    public RedisServer Redis { get; }
    public MailerConfig Config { get; }
    public int ExporterPort { get; private set; }

    /// <summary>Writes the mailer's configuration pointed at a fresh redis-server, with the exporter's bind.</summary>
    public static async Task<RedisCluster> StartAsync(TestWorld world, string webhookUrl)
    {
        var redis = await RedisServer.StartAsync();
        try
        {
            var config = new MailerConfig(world, webhookUrl) { TrustedNetworks = "[127.0.0.0/8]" }.Write();
            var cluster = new RedisCluster(redis, config) { ExporterPort = FreePort.Tcp() };
            var customer = await File.ReadAllTextAsync(config.CustomerFile);
            customer = customer
                .Replace("hostname: localhost", "hostname: 127.0.0.1", StringComparison.Ordinal)
                .Replace("port: 6379", $"port: {redis.Port}\n      lease-seconds: {LeaseSeconds}", StringComparison.Ordinal);
            customer += $"""

                redis:
                  reliable-queue:
                    redis:
                      hostname: 127.0.0.1
                      port: {redis.Port}
                  prometheus:
                    inet-interface: 127.0.0.1
                    inet-port: {cluster.ExporterPort}

                """;
            await File.WriteAllTextAsync(config.CustomerFile, customer);
            return cluster;
        }
        catch
        {
            redis.Dispose();
            throw;
        }
    }

    /// <summary><c>mailer &lt;command&gt; --queue redis</c> (or <c>mailer redis-metrics</c>) as a process of its own.</summary>
    public PeerProcess Start(string command, params string[] extra) => StartWith(Config.CustomerFile, command, extra);

    /// <summary>As <see cref="Start"/>, with a customer file of its own (e.g. a copy with another metrics port, so two
    /// processes of one role can both be scraped).</summary>
    public PeerProcess StartWith(string customerFile, string command, params string[] extra)
    {
        var mailer = Path.Combine(AppContext.BaseDirectory, "mailer.dll");
        Assert.True(File.Exists(mailer), "mailer.dll is not beside the tests: " + mailer);
        var arguments = new List<string> { mailer, command, "--global-config-file", Config.GlobalFile, "--customer-config-file", customerFile };
        if (command != "redis-metrics")
        {
            arguments.AddRange(["--queue", "redis"]);
        }
        arguments.AddRange(extra);
        var process = PeerProcess.Start("dotnet", arguments, Config.Directory, new Dictionary<string, string> { ["MAILER_LOG_LEVEL"] = "WARNING" });
        lock (_processes)
        {
            _processes.Add(process);
        }
        return process;
    }

    /// <summary>Every process's output, for failure messages.</summary>
    public string Outputs()
    {
        lock (_processes)
        {
            return string.Join("\n", _processes.Select((p, i) => $"--- process {i} ({(p.HasExited ? "exited" : "running")}):\n{Tail(p.Output)}")) + "\n--- redis:\n" + Tail(Redis.Output);
        }
    }

    public static Task WaitForPortAsync(IPEndPoint endPoint, PeerProcess process) =>
        Eventually.TrueAsync(() =>
        {
            Assert.False(process.HasExited, "mailer exited: " + process.Output);
            try
            {
                using var client = new TcpClient();
                client.Connect(endPoint);
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), $"mailer listening on {endPoint}");

    /// <summary>POST /v1/mail/send; returns the status code.</summary>
    public async Task<HttpStatusCode> PostAsync(string message)
    {
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(message));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{Config.HttpPort}/v1/mail/send") { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("admin:secret"u8.ToArray()));
        using var response = await _http.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>Posts every message with a few requests in flight; throws unless each is answered 200.</summary>
    public async Task PostAllAsync(IReadOnlyList<string> messages, int parallel = 8) =>
        await Parallel.ForEachAsync(messages, new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (message, _) =>
        {
            var status = await PostAsync(message);
            Assert.True(status == HttpStatusCode.OK, $"HTTP submission answered {(int)status}");
        });

    /// <summary>The Prometheus text of a metrics bind.</summary>
    public async Task<string> MetricsAsync(int port) =>
        await _http.GetStringAsync($"http://127.0.0.1:{port}/metrics");

    public static double? Gauge(string metrics, string name)
    {
        var match = Regex.Match(metrics, $@"^{name} (?<value>[0-9.e+NaN-]+)$", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture) : null;
    }

    /// <summary>The X-Uuid a delivered message carried, from the Message-ID the transformer set.</summary>
    public static string? UuidOf(SunkMessage message)
    {
        var match = MessageIdPattern().Match(message.Text);
        return match.Success ? match.Groups["uuid"].Value : null;
    }

    public void Dispose()
    {
        lock (_processes)
        {
            foreach (var process in _processes)
            {
                process.Dispose();
            }
            _processes.Clear();
        }
        _http.Dispose();
        Redis.Dispose();
    }

    private static string Tail(string text) => text.Length <= 4000 ? text : "..." + text[^4000..];

    [GeneratedRegex(@"^Message-ID: <(?<uuid>[^@>]+)@", RegexOptions.Multiline | RegexOptions.IgnoreCase)]
    private static partial Regex MessageIdPattern();
}
