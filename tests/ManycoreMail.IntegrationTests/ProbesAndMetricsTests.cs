using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ManycoreMail.Metrics;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>Issue 14 items 3, 4 and 10 seen from outside: a running mailer scraped on its metrics listeners after a
/// message went through, its probes, its version, and the shipped dashboard and alert rules checked against what it serves.</summary>
public sealed class ProbesAndMetricsTests(TestWorld world) : IClassFixture<TestWorld>, IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private SmtpSink _sink = null!;
    private WebhookListener _webhook = null!;
    private MailerConfig _config = null!;
    private RunningMailer _mailer = null!;

    public async Task InitializeAsync()
    {
        _sink = await world.StartSinkAsync("ok.test");
        _webhook = new WebhookListener();
        _config = new MailerConfig(world, _webhook.Url).Write();
        _mailer = await RunningMailer.StartAsync(_config);
        var (code, output) = await Swaks.SendAsync(_config.Receiver, Messages.Simple(Messages.NewUuid(), "Reader <reader@ok.test>"), Swaks.TlsAuth);
        Assert.True(code == 0, output);
        // Counters and the latency histogram exist once a delivery was reported.
        await Eventually.TrueAsync(async () => (await _mailer.MetricsAsync()).Contains("accept_to_delivery_seconds_count 1.0"), Patience, "one delivery");
    }

    public async Task DisposeAsync()
    {
        await _mailer.DisposeAsync();
        _webhook.Dispose();
        _sink.Dispose();
    }

    [Fact]
    public async Task Every_metrics_listener_answers_healthz_readyz_and_serves_the_metrics_on_root()
    {
        using var http = new HttpClient();
        foreach (var port in new[] { _config.HttpMetricsPort, _config.MetricsPort })
        {
            Assert.Equal("ok", await http.GetStringAsync($"http://127.0.0.1:{port}/healthz"));
            using var ready = await http.GetAsync($"http://127.0.0.1:{port}/readyz");
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            var root = await http.GetStringAsync($"http://127.0.0.1:{port}/");
            Assert.Contains("# TYPE nbr_emails_enqueued_total counter", root);
            Assert.Contains("mailer_build_info{version=", root);
        }
        // The API port keeps its own answers: no metrics on its root.
        using var api = await http.GetAsync($"http://127.0.0.1:{_config.HttpPort}/");
        Assert.Equal(HttpStatusCode.NotFound, api.StatusCode);
    }

    [Fact]
    public async Task Each_metrics_listener_serves_its_own_roles_series_and_the_process_wide_ones()
    {
        using var http = new HttpClient();
        // receiver/prometheus is the receiver's; httpreceiver's metrics port the HTTP receiver's. The roles without
        // a bind here (sender, transformer, mx-server, backdata) are served on both, or they would be served nowhere.
        var receiverPort = await http.GetStringAsync($"http://127.0.0.1:{_config.MetricsPort}/metrics");
        var httpReceiverPort = await http.GetStringAsync($"http://127.0.0.1:{_config.HttpMetricsPort}/metrics");

        Assert.Contains("# TYPE receiver_warnings_total counter", receiverPort);
        Assert.DoesNotContain("receiver_warnings_total", httpReceiverPort);
        foreach (var shared in new[] { "nbr_emails_enqueued_total 1.0", "process_cpu_seconds_total", "memory_usage_percent", "delivered_total{site=" })
        {
            Assert.Contains(shared, receiverPort);
            Assert.Contains(shared, httpReceiverPort);
        }
        // In-process, the whole registry still holds everything.
        Assert.Contains("receiver_warnings_total", await _mailer.MetricsAsync());
    }

    [Fact]
    public async Task Process_runtime_build_and_postfix_queue_series_are_served()
    {
        using var http = new HttpClient();
        var text = await http.GetStringAsync($"http://127.0.0.1:{_config.MetricsPort}/metrics");
        var samples = Samples(text);

        Assert.True(samples["process_cpu_seconds_total"] > 0, text);
        Assert.True(samples["process_resident_memory_bytes"] > 1_000_000, text);
        Assert.True(samples["process_start_time_seconds"] > 1_700_000_000, text);
        Assert.True(samples.ContainsKey("dotnet_collection_count_total{generation=\"0\"}"), text);
        Assert.True(samples["dotnet_total_memory_bytes"] > 0, text);
        Assert.True(samples["dotnet_threadpool_threads"] >= 1, text);
        Assert.True(samples["dotnet_threadpool_queue_length"] >= 0, text);
        Assert.Equal(1.0, samples[$"mailer_build_info{{version=\"{BuildVersion.Text}\"}}"]);
        // The one message went through: nothing waits on the ingress queues, nothing is held or dead-lettered.
        Assert.Equal(0.0, samples["postfix_incoming_queue_messages"]);
        Assert.Equal(0.0, samples["postfix_hold_queue_messages"]);
        Assert.Equal(0.0, samples["postfix_corrupt_queue_messages"]);
        Assert.True(samples["mailer_spool_disk_size_bytes"] >= samples["mailer_spool_disk_free_bytes"], text);
        Assert.True(samples["mailer_spool_disk_free_bytes"] > 0, text);
    }

    [Fact]
    public async Task The_message_is_timed_at_each_stage_of_its_way_from_acceptance_to_delivery()
    {
        // The process runs the transformer beside the receiver, so the message was transformed at the door: its
        // transformer stage runs from acceptance to the hand-off, and it never waited on an ingress queue.
        string[] stages = ["transformer_process_seconds", "sender_queue_wait_seconds", "sender_delivery_seconds"];
        using var http = new HttpClient();
        var text = await Eventually.GetAsync(async () => await http.GetStringAsync($"http://127.0.0.1:{_config.MetricsPort}/metrics") is { } t
            && stages.All(s => t.Contains($"{s}_count 1.0")) ? t : null, Patience, "every stage timed once");

        foreach (var stage in stages)
        {
            Assert.Contains($"# TYPE {stage} histogram", text);
            // Local and unloaded: each stage took well under a minute.
            Assert.Contains($"{stage}_bucket{{le=\"60\"}} 1.0", text);
        }
        Assert.Contains("transformer_at_door_total 1.0", text);
        Assert.Contains("# TYPE transformer_queue_wait_seconds histogram", text);
        Assert.Contains("transformer_queue_wait_seconds_count 0", text);
    }

    [Fact]
    public async Task Mailer_version_prints_the_version_build_info_carries()
    {
        var mailerDll = typeof(BuildVersion).Assembly.Location;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(mailerDll);
        start.ArgumentList.Add("--version");
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.Equal(0, process.ExitCode);
        Assert.Equal(BuildVersion.Text, output.Trim());
        Assert.Matches(@"^\d+\.\d+\.\d+", output);
        using var http = new HttpClient();
        Assert.Contains($"mailer_build_info{{version=\"{output.Trim()}\"}} 1.0", await http.GetStringAsync($"http://127.0.0.1:{_config.MetricsPort}/"));
    }

    [Fact]
    public async Task Dashboard_and_alert_rules_name_only_metrics_the_mailer_serves()
    {
        using var http = new HttpClient();
        var served = ServedNames(await http.GetStringAsync($"http://127.0.0.1:{_config.MetricsPort}/"));
        var root = RepositoryRoot();
        var dashboard = JsonNode.Parse(File.ReadAllText(Path.Combine(root, "deploy", "grafana", "manycore-mail.json")))!;
        var dashboardExpressions = Expressions(dashboard).ToArray();
        var rules = File.ReadAllText(Path.Combine(root, "deploy", "prometheus", "rules.yaml"));
        var ruleExpressions = Regex.Matches(rules, @"^\s*expr:\s*(.+)$", RegexOptions.Multiline).Select(m => Unquote(m.Groups[1].Value.Trim())).ToArray();

        Assert.True(dashboardExpressions.Length >= 10, "the dashboard has too few queries");
        Assert.True(ruleExpressions.Length >= 5, "the rules have too few expressions");
        Assert.DoesNotContain(ruleExpressions, e => e is "|" or ">" or "|-" or ">-");
        foreach (var alert in new[] { "MailerQueueGrowing", "MailerWebhookFailing", "MailerNoDeliveries", "MailerBounceRateSpike", "MailerSpoolDiskFilling" })
        {
            Assert.Contains($"alert: {alert}", rules);
        }
        var named = dashboardExpressions.Concat(ruleExpressions).SelectMany(PromQl.MetricNames).ToHashSet(StringComparer.Ordinal);
        Assert.True(named.Count >= 15, string.Join(", ", named));
        var unknown = named.Where(n => !served.Contains(n)).Order(StringComparer.Ordinal).ToArray();
        Assert.True(unknown.Length == 0, "named but not served: " + string.Join(", ", unknown));
    }

    [Fact]
    public async Task Readiness_says_why_not_when_stopping_or_the_store_is_gone()
    {
        var stopping = new Readiness(_ => ValueTask.FromResult(0L));
        Assert.Null(await stopping.ProblemAsync(CancellationToken.None));
        stopping.MarkStopping();
        Assert.Equal("stopping", await stopping.ProblemAsync(CancellationToken.None));

        var silent = new TaskCompletionSource<long>();
        var hanging = new Readiness(_ => new ValueTask<long>(silent.Task));
        Assert.Contains("did not answer within", await hanging.ProblemAsync(CancellationToken.None));

        var spool = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(_config.Directory, "closed-spool") }, TimeProvider.System, CancellationToken.None);
        await spool.DisposeAsync();
        var closed = new Readiness(cancellationToken => spool.CountAsync("IB-MAIL-QUEUE-P0", cancellationToken));
        Assert.Contains("not reachable", await closed.ProblemAsync(CancellationToken.None));
    }

    /// <summary>Every sample line: series (name and labels) to value.</summary>
    private static Dictionary<string, double> Samples(string text) =>
        text.Split('\n').Where(l => l.Length > 0 && l[0] != '#')
            .Select(l => (Series: l[..l.LastIndexOf(' ')], Value: double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)))
            .ToDictionary(s => s.Series, s => s.Value, StringComparer.Ordinal);

    /// <summary>The family names of the exposition (a family with no series yet is still served) and every sample's name.</summary>
    private static HashSet<string> ServedNames(string text)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                names.Add(parts[2]);
                if (parts[3] == "histogram")
                {
                    names.UnionWith([parts[2] + "_bucket", parts[2] + "_sum", parts[2] + "_count"]);
                }
            }
            else if (line.Length > 0 && line[0] != '#')
            {
                names.Add(Regex.Match(line, "^[a-zA-Z_:][a-zA-Z0-9_:]*").Value);
            }
        }
        return names;
    }

    private static IEnumerable<string> Expressions(JsonNode node) => node switch
    {
        JsonObject o => o.SelectMany(p => p.Key == "expr" && p.Value is JsonValue v ? [v.GetValue<string>()] : p.Value is null ? [] : Expressions(p.Value)),
        JsonArray a => a.Where(i => i is not null).SelectMany(i => Expressions(i!)),
        _ => [],
    };

    private static string Unquote(string value) =>
        value.Length >= 2 && (value[0] == '\'' || value[0] == '"') && value[^1] == value[0] ? value[1..^1].Replace("''", "'", StringComparison.Ordinal) : value;

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "ManycoreMail.slnx")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("ManycoreMail.slnx not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>The metric names a PromQL expression reads: identifiers left once strings, label matchers, ranges, grouping
/// clauses, function calls, keywords and numbers are taken out.</summary>
internal static partial class PromQl
{
    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan", "Inf", "NaN",
    };

    public static IEnumerable<string> MetricNames(string expression)
    {
        var text = Strings().Replace(expression, "\"\"");
        text = Matchers().Replace(text, " ");
        text = Ranges().Replace(text, " ");
        text = Grouping().Replace(text, " ");
        foreach (Match identifier in Identifiers().Matches(text))
        {
            var name = identifier.Value;
            var rest = text[(identifier.Index + name.Length)..].TrimStart();
            if (char.IsAsciiDigit(name[0]) || rest.StartsWith('(') || Keywords.Contains(name) || name.StartsWith('$'))
            {
                continue;
            }
            yield return name;
        }
    }

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'")]
    private static partial Regex Strings();

    [GeneratedRegex(@"\{[^}]*\}")]
    private static partial Regex Matchers();

    [GeneratedRegex(@"\[[^\]]*\]")]
    private static partial Regex Ranges();

    [GeneratedRegex(@"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")]
    private static partial Regex Grouping();

    // A number or duration (1e3, 0.5, 5m) is matched whole so that its letters are not taken for a name.
    [GeneratedRegex(@"\$?[a-zA-Z_:][a-zA-Z0-9_:]*|\d[\w.]*")]
    private static partial Regex Identifiers();
}
