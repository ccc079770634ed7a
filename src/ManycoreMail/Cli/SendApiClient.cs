using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace ManycoreMail.Cli;

/// <summary>A message the API accepted: the recipient and the uuid it has.</summary>
internal sealed record AcceptedMessage(string Email, string Uuid);

/// <summary>The API's answer to one batch: the accepted messages, or a refusal already put into words (status,
/// title, and each field with its problem).</summary>
internal sealed record SendBatchAnswer(IReadOnlyList<AcceptedMessage>? Accepted, string? Refusal)
{
    public bool IsAccepted => Accepted is not null;
}

/// <summary>Posts batches to <c>POST /v1/messages</c> with Basic auth and an Idempotency-Key; retries what a retry
/// can fix (429, 503, a dropped connection), which the key makes safe.</summary>
internal sealed class SendApiClient(HttpClient http, Uri messagesUrl, string user, string password)
{
    public const int MaxAttempts = 4;

    /// <summary>The longest Retry-After honoured; a server asking for more gets asked again sooner.</summary>
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    private readonly AuthenticationHeaderValue _authorization =
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password)));

    public async Task<SendBatchAnswer> PostAsync(byte[] body, string idempotencyKey, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            TimeSpan? retryAfter;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, messagesUrl) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                request.Headers.Authorization = _authorization;
                request.Headers.Add("Idempotency-Key", idempotencyKey);
                using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
                var answer = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    return ReadAccepted(answer);
                }

                if (response.StatusCode is not (HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable) || attempt == MaxAttempts)
                {
                    return new(null, DescribeRefusal(response.StatusCode, response.ReasonPhrase, answer));
                }

                retryAfter = response.Headers.RetryAfter?.Delta;
            }
            catch (Exception e) when (IsTransportFailure(e, cancellationToken))
            {
                if (attempt == MaxAttempts)
                {
                    return new(null, $"{messagesUrl}: {e.Message}");
                }

                retryAfter = null; // no answer came: the same key makes asking again harmless
            }

            var delay = retryAfter is { } asked && asked < MaxRetryDelay ? asked : TimeSpan.FromSeconds(Math.Min(1 << attempt, MaxRetryDelay.TotalSeconds));
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The connection failed or the client's timeout ran out; the caller's own cancellation is not that.</summary>
    private static bool IsTransportFailure(Exception e, CancellationToken cancellationToken) =>
        e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested);

    /// <summary>202 {"messages": [{"email", "uuid"}...]}.</summary>
    private static SendBatchAnswer ReadAccepted(byte[] answer)
    {
        try
        {
            using var document = JsonDocument.Parse(answer);
            if (document.RootElement.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Array)
            {
                var accepted = messages.EnumerateArray()
                    .Select(m => new AcceptedMessage(Text(m, "email") ?? "", Text(m, "uuid") ?? ""))
                    .ToList();
                return new(accepted, null);
            }
        }
        catch (JsonException)
        {
        }

        return new(null, "the API accepted the batch but its answer has no messages list: " + Shorten(Encoding.UTF8.GetString(answer)));
    }

    /// <summary>problem+json as lines a person reads: "422 Unprocessable Entity: detail", then "  field: problem" for
    /// a named field or each entry of an errors list.</summary>
    internal static string DescribeRefusal(HttpStatusCode status, string? reason, byte[] answer)
    {
        var text = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"{(int)status} {reason ?? status.ToString()}"));
        try
        {
            using var document = JsonDocument.Parse(answer);
            var problem = document.RootElement;
            if (Text(problem, "title") is { } title && !title.Equals(reason, StringComparison.OrdinalIgnoreCase))
            {
                text.Append(" (").Append(title).Append(')');
            }

            if (Text(problem, "detail") is { } detail)
            {
                text.Append(": ").Append(detail);
            }
            else if (Text(problem, "field") is { } field)
            {
                text.Append(": ").Append(field);
            }

            if (problem.TryGetProperty("errors", out var errors))
            {
                foreach (var (field, message) in FieldErrors(errors))
                {
                    text.AppendLine().Append("  ").Append(field).Append(": ").Append(message);
                }
            }

            if (problem.TryGetProperty("line", out var line) && line.ValueKind == JsonValueKind.Number)
            {
                text.Append(" (template line ").Append(line.GetRawText()).Append(')');
            }
        }
        catch (JsonException)
        {
            if (answer.Length > 0)
            {
                text.Append(": ").Append(Shorten(Encoding.UTF8.GetString(answer)));
            }
        }

        return text.ToString();
    }

    /// <summary>An errors list as [{field, message}] or as {field: [messages]} (ASP.NET's validation problem).</summary>
    private static IEnumerable<(string Field, string Message)> FieldErrors(JsonElement errors)
    {
        if (errors.ValueKind == JsonValueKind.Array)
        {
            foreach (var error in errors.EnumerateArray())
            {
                yield return (Text(error, "field") ?? "", Text(error, "message") ?? Text(error, "detail") ?? error.GetRawText());
            }
        }
        else if (errors.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in errors.EnumerateObject())
            {
                var messages = property.Value.ValueKind == JsonValueKind.Array
                    ? string.Join("; ", property.Value.EnumerateArray().Select(m => m.ToString()))
                    : property.Value.ToString();
                yield return (property.Name, messages);
            }
        }
    }

    private static string? Text(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "...";
}
