using System.Net;
using System.Text.Json.Nodes;

namespace ManycoreMail.TestSupport;

/// <summary>The customer's webhook: records every event array POSTed to it. It can be told to fail
/// (answer 500) to test that events are kept and retried.</summary>
public sealed class WebhookListener : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly List<JsonObject> _events = [];
    private readonly List<string> _contentTypes = [];
    private readonly Task _loop;
    private int _requests;

    public WebhookListener()
    {
        for (var attempt = 0; ; attempt++)
        {
            Port = FreePort.Tcp();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 10)
            {
            }
        }
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }
    public string Url => $"http://127.0.0.1:{Port}/events";

    /// <summary>When set, POSTs are answered with this status and their events not recorded.</summary>
    public HttpStatusCode? FailWith { get; set; }

    public int Requests => Volatile.Read(ref _requests);

    public IReadOnlyList<JsonObject> Events
    {
        get
        {
            lock (_events)
            {
                return [.. _events];
            }
        }
    }

    public IReadOnlyList<string> ContentTypes
    {
        get
        {
            lock (_events)
            {
                return [.. _contentTypes];
            }
        }
    }

    public Task<JsonObject> WaitForAsync(Func<JsonObject, bool> match, TimeSpan timeout, string what) =>
        Eventually.GetAsync(() => Task.FromResult(Events.FirstOrDefault(match)), timeout, what);

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // stopped
        }
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            Interlocked.Increment(ref _requests);
            using var reader = new StreamReader(context.Request.InputStream);
            var body = await reader.ReadToEndAsync().ConfigureAwait(false);
            if (FailWith is { } status)
            {
                context.Response.StatusCode = (int)status;
                context.Response.Close();
                continue;
            }
            if (JsonNode.Parse(body) is JsonArray array)
            {
                lock (_events)
                {
                    _contentTypes.Add(context.Request.ContentType ?? "");
                    foreach (var item in array)
                    {
                        if (item is JsonObject json)
                        {
                            _events.Add((JsonObject)json.DeepClone());
                        }
                    }
                }
            }
            context.Response.StatusCode = 200;
            context.Response.Close();
        }
    }
}
