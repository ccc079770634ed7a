using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace ManycoreMail.TestSupport;

/// <summary>
/// The customer's webhook: a minimal HTTP/1.1 server on a port the OS picks (no race for a free port), which
/// records every event array POSTed to it. It can be told to fail (answer 500) to test that events are kept
/// and retried.
/// </summary>
public sealed class WebhookListener : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<JsonObject> _events = [];
    private readonly List<string> _contentTypes = [];
    private readonly Task _loop;
    private readonly List<RecordedRequest> _recorded = [];
    private int _failNext;
    private int _requests;
    private volatile int _failWith;

    public WebhookListener()
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _loop = Task.Run(AcceptAsync);
    }

    public int Port { get; }
    public string Url => $"http://127.0.0.1:{Port}/events";

    /// <summary>When set, POSTs are answered with this status and their events not recorded.</summary>
    public HttpStatusCode? FailWith
    {
        get => _failWith == 0 ? null : (HttpStatusCode)_failWith;
        set => _failWith = value is null ? 0 : (int)value.Value;
    }

    /// <summary>When set, a POST holding an event that matches is answered 422 (the payload is bad) and none of its
    /// events recorded, as a webhook that validates what it gets.</summary>
    public Func<JsonObject, bool>? Refuse { get; set; }

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Answers the next this many requests with 500 (recorded, with that status), then goes on as before.</summary>
    public int FailNext
    {
        get => Volatile.Read(ref _failNext);
        set => Volatile.Write(ref _failNext, value);
    }

    /// <summary>When true, any body is taken with 200 (not only JSON arrays of events): a webhook for inbound mail.</summary>
    public bool AcceptAnyBody { get; set; }

    /// <summary>Every request as it came (headers, body bytes) with the status it was answered, in arrival order.</summary>
    public IReadOnlyList<RecordedRequest> Recorded
    {
        get
        {
            lock (_recorded)
            {
                return [.. _recorded];
            }
        }
    }

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
        _stopping.Cancel();
        _listener.Stop();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // stopped
        }
        _stopping.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                // One connection may carry many requests (HttpClient keeps connections alive); bounded by the peer.
                while (!_stopping.IsCancellationRequested && await ReadRequestAsync(stream).ConfigureAwait(false) is { } request)
                {
                    var status = Handle(request);
                    var reply = Encoding.ASCII.GetBytes($"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
                    await stream.WriteAsync(reply, _stopping.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // the client went away
            }
        }
    }

    private int Handle(RecordedRequest request)
    {
        var status = Answer(request.ContentType, Encoding.UTF8.GetString(request.Body));
        lock (_recorded)
        {
            _recorded.Add(request with { Status = status });
        }
        return status;
    }

    private int Answer(string contentType, string body)
    {
        Interlocked.Increment(ref _requests);
        if (FailWith is { } failure)
        {
            return (int)failure;
        }
        if (Interlocked.Decrement(ref _failNext) >= 0)
        {
            return 500;
        }
        Interlocked.Increment(ref _failNext);
        if (AcceptAnyBody)
        {
            return 200;
        }
        if (JsonNode.Parse(body) is not JsonArray array)
        {
            return 400;
        }
        if (Refuse is { } refuse && array.Any(e => e is JsonObject json && refuse(json)))
        {
            return 422;
        }
        lock (_events)
        {
            _contentTypes.Add(contentType);
            foreach (var item in array)
            {
                if (item is JsonObject json)
                {
                    _events.Add((JsonObject)json.DeepClone());
                }
            }
        }
        return 200;
    }

    private async Task<RecordedRequest?> ReadRequestAsync(NetworkStream stream)
    {
        var head = new List<byte>(1024);
        var one = new byte[1];
        while (head.Count < 64 * 1024)
        {
            if (await stream.ReadAsync(one, _stopping.Token).ConfigureAwait(false) == 0)
            {
                return null;
            }
            head.Add(one[0]);
            if (head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n')
            {
                break;
            }
        }
        var lines = Encoding.ASCII.GetString(head.ToArray()).Split("\r\n");
        var length = 0;
        var contentType = "";
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }
            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            headers[name] = value;
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                length = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
            }
            else if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
            {
                contentType = value;
            }
        }
        var body = new byte[length];
        await stream.ReadExactlyAsync(body, _stopping.Token).ConfigureAwait(false);
        var requestLine = lines[0].Split(' ');
        return new RecordedRequest(requestLine.Length > 1 ? requestLine[1] : "", contentType, headers, body, 0);
    }
}

/// <summary>One request the <see cref="WebhookListener"/> got: path, headers (names case-insensitive), the body's
/// bytes as sent, and the status it was answered.</summary>
public sealed record RecordedRequest(string Path, string ContentType, IReadOnlyDictionary<string, string> Headers, byte[] Body, int Status)
{
    public string Header(string name) => Headers.TryGetValue(name, out var value) ? value : "";
}
