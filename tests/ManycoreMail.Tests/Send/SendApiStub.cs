using System.Net;
using System.Text;
using System.Text.Json;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Tests.Send;

/// <summary>A request as the stub API received it.</summary>
internal sealed record ReceivedSend(string Path, string? Authorization, string? IdempotencyKey, string? ContentType, byte[] Body);

/// <summary>What the stub answers: a status, headers and a body.</summary>
internal sealed record StubAnswer(int Status, string ContentType, string Body, string? RetryAfter = null)
{
    /// <summary>202 with a uuid per recipient of the request, as POST /v1/messages answers.</summary>
    public static StubAnswer Accept(ReceivedSend request)
    {
        using var document = JsonDocument.Parse(request.Body);
        var messages = document.RootElement.GetProperty("recipients").EnumerateArray()
            .Select(r => new { email = r.GetProperty("email").GetString(), uuid = r.TryGetProperty("uuid", out var u) ? u.GetString() : Guid.NewGuid().ToString("N") });
        return new(202, "application/json", JsonSerializer.Serialize(new { messages }));
    }
}

/// <summary>A local HTTP server standing in for the API: records each request, answers with the script.</summary>
internal sealed class SendApiStub : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<ReceivedSend, int, StubAnswer> _script;
    private readonly List<ReceivedSend> _received = [];
    private readonly Task _loop;

    /// <param name="script">The answer to the n-th request (counting from 0).</param>
    public SendApiStub(Func<ReceivedSend, int, StubAnswer> script)
    {
        _script = script;
        var port = FreePort.Tcp();
        BaseUrl = new Uri($"http://127.0.0.1:{port}/");
        _listener.Prefixes.Add(BaseUrl.ToString());
        _listener.Start();
        _loop = ServeAsync();
    }

    public Uri BaseUrl { get; }

    public IReadOnlyList<ReceivedSend> Received
    {
        get
        {
            lock (_received)
            {
                return [.. _received];
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Close();
        await _loop;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            var request = new ReceivedSend(context.Request.Url!.AbsolutePath, context.Request.Headers["Authorization"],
                context.Request.Headers["Idempotency-Key"], context.Request.ContentType, body.ToArray());
            int index;
            lock (_received)
            {
                index = _received.Count;
                _received.Add(request);
            }

            var answer = _script(request, index);
            context.Response.StatusCode = answer.Status;
            context.Response.ContentType = answer.ContentType;
            if (answer.RetryAfter is not null)
            {
                context.Response.Headers["Retry-After"] = answer.RetryAfter;
            }

            var bytes = Encoding.UTF8.GetBytes(answer.Body);
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
    }
}
