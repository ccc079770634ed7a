using System.Net;
using System.Text.Json;
using ManycoreMail.Config;
using ManycoreMail.Events;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.Roles.HttpReceiver;
using ManycoreMail.Roles.Tracker;
using ManycoreMail.Suppression;
using ManycoreMail.Suppression.Sqlite;
using ManycoreMail.TestSupport;
using ManycoreMail.Tracking;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.IntegrationTests;

/// <summary>The tracker role on a free loopback port, in the process's HTTP server as the host starts it, over a
/// real embedded spool whose events queue the test reads and a real (SQLite) suppression list.</summary>
internal sealed class TrackerHarness : IAsyncDisposable
{
    public const string EventsQueue = "EVENT_QUEUE";
    public const string Secret = "tracker harness secret 0123456789";

    private readonly DirectoryInfo _directory;
    private readonly HttpFront _front;

    private TrackerHarness(DirectoryInfo directory, EmbeddedSpool spool, HttpFront front, TrackingOptions options, MetricsRegistry metrics,
        ISuppressionStore suppressions)
    {
        _directory = directory;
        Spool = spool;
        _front = front;
        Options = options;
        Metrics = metrics;
        Suppressions = suppressions;
        Urls = options.CreateUrls();
        Http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });
    }

    public EmbeddedSpool Spool { get; }
    public TrackingOptions Options { get; }
    public TrackingUrls Urls { get; }
    public MetricsRegistry Metrics { get; }
    public ISuppressionStore Suppressions { get; }
    public HttpClient Http { get; }

    /// <summary>Where the tracker listens: the public base URL's host stands for a proxy in front of it.</summary>
    public string Listener => $"http://{Options.Bind}";

    public static async Task<TrackerHarness> StartAsync(string baseUrl = "https://t.example.com", SuppressionOptions? suppression = null,
        IReadOnlyList<IPNetwork>? trustedProxies = null)
    {
        var directory = Directory.CreateTempSubdirectory("tracker-");
        var spool = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(directory.FullName, "spool") }, TimeProvider.System, CancellationToken.None);
        var options = new TrackingOptions
        {
            Bind = new IPEndPoint(IPAddress.Loopback, FreePort.Tcp(IPAddress.Loopback)),
            BaseUrl = baseUrl,
            Secrets = [Secret],
            TrustedProxies = trustedProxies ?? [],
        };
        var metrics = new MetricsRegistry();
        var suppressions = SqliteSuppressionStore.Open(new SqliteSuppressionStoreOptions { Path = Path.Combine(directory.FullName, "suppressions.db") });
        var site = TrackerRole.Create(options, suppression ?? new SuppressionOptions(), new EventQueue(spool, EventsQueue), suppressions, metrics,
            TimeProvider.System, NullLoggerFactory.Instance);
        var front = new HttpFront(null, null, [], metrics, NullLoggerFactory.Instance, tracker: site);
        await front.StartAsync(CancellationToken.None);
        return new TrackerHarness(directory, spool, front, options, metrics, suppressions);
    }

    /// <summary>The signed URL of <paramref name="token"/> as the listener sees it: the base URL's scheme and host
    /// replaced by the listener's, its path kept unless <paramref name="stripBasePath"/> (a proxy that strips it).</summary>
    public string LocalUrl(TrackingToken token, bool stripBasePath = false)
    {
        var path = new Uri(Urls.For(token)).AbsolutePath;
        var basePath = new Uri(Urls.BaseUrl).AbsolutePath.TrimEnd('/');
        return Listener + (stripBasePath && basePath.Length > 0 ? path[basePath.Length..] : path);
    }

    /// <summary>Every event on the events queue now, taken off it. The tracker queues an event before it answers,
    /// so once a response is in, its event is here or it was never recorded.</summary>
    public async Task<IReadOnlyList<JsonElement>> TakeEventsAsync()
    {
        var leased = await Spool.LeaseAsync(EventsQueue, 1000, TimeSpan.FromHours(1), CancellationToken.None);
        var events = new List<JsonElement>();
        if (leased.Count > 0)
        {
            var transaction = new QueueTransaction();
            foreach (var item in leased)
            {
                events.Add(JsonDocument.Parse(item.Body).RootElement.Clone());
                transaction.Complete(item);
            }
            await Spool.CommitAsync(transaction, CancellationToken.None);
        }
        return events;
    }

    /// <summary>Every entry of the suppression list.</summary>
    public async Task<IReadOnlyList<SuppressionEntry>> SuppressedAsync() =>
        (await Suppressions.ListAsync(new SuppressionQuery { Limit = SuppressionQuery.MaxLimit }, CancellationToken.None)).Entries;

    public async Task<string> MetricsTextAsync() => await Metrics.RenderAsync(CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await _front.StopAsync(deadline.Token);
        await _front.DisposeAsync();
        await Spool.DisposeAsync();
        await Suppressions.DisposeAsync();
        _directory.Delete(recursive: true);
    }
}
