using ManycoreMail.Compose;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace ManycoreMail.Roles.HttpReceiver;

/// <summary>
/// The JSON API's refusals as RFC 9457 problem+json: type, title, status and detail, plus <c>errors</c> (every field at
/// fault with what is wrong) and <c>field</c> (the first of them, as the templates API names its one field).
/// </summary>
internal static class ApiProblem
{
    public static IResult Of(int status, string field, string message, IDictionary<string, object?>? extra = null) =>
        Of(status, [new SendRequestError(field, message)], extra);

    public static IResult Of(int status, IReadOnlyList<SendRequestError> errors, IDictionary<string, object?>? extra = null)
    {
        ArgumentOutOfRangeException.ThrowIfZero(errors.Count);
        var extensions = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["field"] = errors[0].Field,
            ["errors"] = errors.Select(e => new Dictionary<string, string> { ["field"] = e.Field, ["message"] = e.Message }).ToArray(),
        };
        foreach (var (name, value) in extra ?? new Dictionary<string, object?>())
        {
            extensions[name] = value;
        }
        var detail = string.Join("; ", errors.Select(e => e.Field.Length == 0 ? e.Message : $"{e.Field}: {e.Message}"));
        return Results.Problem(statusCode: status, title: ReasonPhrases.GetReasonPhrase(status), detail: detail, extensions: extensions);
    }
}

/// <summary>A JSON answer kept as bytes, so that an idempotent replay gives exactly the bytes first sent.</summary>
internal sealed class JsonAnswer(int status, byte[] body) : IResult
{
    public int Status => status;

    public byte[] Body => body;

    public Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        httpContext.Response.StatusCode = status;
        httpContext.Response.ContentType = "application/json";
        httpContext.Response.ContentLength = body.Length;
        return httpContext.Response.Body.WriteAsync(body, httpContext.RequestAborted).AsTask();
    }
}
