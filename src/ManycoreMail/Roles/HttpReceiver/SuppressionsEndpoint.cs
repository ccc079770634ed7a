using System.Globalization;
using System.Text.Json;
using ManycoreMail.Hosting;
using ManycoreMail.Suppression;
using ManycoreMail.Suppressions;
using Microsoft.AspNetCore.Http;

namespace ManycoreMail.Roles.HttpReceiver;

/// <summary>
/// <c>/v1/suppressions</c> behind the API's Basic auth: <c>GET ?email=&amp;limit=&amp;after=</c> pages the list
/// (<c>{"suppressions": [...], "next": cursor or null}</c>), <c>POST</c> adds or replaces one entry given as JSON (201
/// with it), <c>DELETE ?email=&amp;scope=&amp;value=</c> removes one (204, or 404). Every refusal is problem+json; a
/// bad field is named in its <c>field</c> member and its detail.
/// </summary>
/// <param name="store">The process's list, opened at the first request.</param>
internal sealed class SuppressionsEndpoint(ApiAuthentication authentication, Func<ISuppressionStore> store, TimeProvider time)
{
    /// <summary>An entry is a few hundred bytes; anything much larger is not one.</summary>
    private const int MaxBodyBytes = 64 * 1024;

    private static readonly string[] ListParameters = ["email", "limit", "after"];
    private static readonly string[] KeyParameters = ["email", "scope", "value"];
    private static readonly string[] EntryFields = ["email", "scope", "value", "reason", "expires"];

    public async Task HandleAsync(HttpContext context)
    {
        if (authentication.Refuse(context) is { } refusal)
        {
            await refusal.ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        try
        {
            var method = context.Request.Method;
            var result = HttpMethods.IsGet(method) ? await ListAsync(context).ConfigureAwait(false)
                : HttpMethods.IsPost(method) ? await AddAsync(context).ConfigureAwait(false)
                : HttpMethods.IsDelete(method) ? await RemoveAsync(context).ConfigureAwait(false)
                : Results.Problem(statusCode: StatusCodes.Status405MethodNotAllowed, title: "Method Not Allowed", detail: "use GET, POST or DELETE");
            await result.ExecuteAsync(context).ConfigureAwait(false);
        }
        catch (SuppressionFieldException e)
        {
            await Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad Request", detail: $"{e.Field}: {e.Message}",
                    extensions: new Dictionary<string, object?> { ["field"] = e.Field })
                .ExecuteAsync(context).ConfigureAwait(false);
        }
    }

    private async Task<IResult> ListAsync(HttpContext context)
    {
        var parameters = Parameters(context.Request.Query, ListParameters);
        var email = parameters.GetValueOrDefault("email");
        var query = new SuppressionQuery
        {
            Email = email is null ? null : SuppressionInput.Key(email, null, null).Email,
            Limit = Limit(parameters.GetValueOrDefault("limit")),
            After = parameters.GetValueOrDefault("after"),
        };
        SuppressionPage page;
        try
        {
            page = await store().ListAsync(query, context.RequestAborted).ConfigureAwait(false);
        }
        catch (ArgumentException)
        {
            // The address and the limit are checked above, so the store can only object to the cursor.
            throw new SuppressionFieldException("after", "not a cursor this server handed out (pass a previous answer's \"next\", unchanged)");
        }

        return new JsonBody(SuppressionEntryJson.Render(page), StatusCodes.Status200OK);
    }

    private async Task<IResult> AddAsync(HttpContext context)
    {
        if (await HttpBodies.ReadLimitedAsync(context.Request, MaxBodyBytes, context.RequestAborted).ConfigureAwait(false) is not { } body)
        {
            return Results.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Payload Too Large", detail: $"an entry is at most {MaxBodyBytes} bytes");
        }

        var fields = Fields(body);
        var entry = SuppressionInput.Entry(fields.GetValueOrDefault("email"), fields.GetValueOrDefault("scope"), fields.GetValueOrDefault("value"),
            fields.GetValueOrDefault("reason"), fields.GetValueOrDefault("expires"), time.GetUtcNow());
        await store().AddAsync([entry], context.RequestAborted).ConfigureAwait(false);
        context.Response.Headers.Location = "/v1/suppressions?email=" + Uri.EscapeDataString(entry.Email);
        return new JsonBody(SuppressionEntryJson.Render(entry), StatusCodes.Status201Created);
    }

    private async Task<IResult> RemoveAsync(HttpContext context)
    {
        var parameters = Parameters(context.Request.Query, KeyParameters);
        var (email, scope, value) = SuppressionInput.Key(parameters.GetValueOrDefault("email"), parameters.GetValueOrDefault("scope"), parameters.GetValueOrDefault("value"));
        return await store().RemoveAsync(email, scope, value, context.RequestAborted).ConfigureAwait(false)
            ? Results.NoContent()
            : Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not Found",
                detail: $"{email} has no {SuppressionNames.Format(scope, value)} suppression");
    }

    /// <summary>The query's parameters, each at most once and all of them known.</summary>
    private static Dictionary<string, string> Parameters(IQueryCollection query, string[] known)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, values) in query)
        {
            if (!known.Contains(key, StringComparer.Ordinal))
            {
                throw new SuppressionFieldException(key, $"unknown parameter; the parameters are {string.Join(", ", known)}");
            }

            if (values.Count > 1)
            {
                throw new SuppressionFieldException(key, "given more than once");
            }

            if (values.ToString() is { Length: > 0 } text)
            {
                parameters[key] = text;
            }
        }

        return parameters;
    }

    private static int Limit(string? text) => text switch
    {
        null => 100,
        _ when int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit is >= 1 and <= SuppressionQuery.MaxLimit => limit,
        _ => throw new SuppressionFieldException("limit", $"'{text}' is not a whole number from 1 to {SuppressionQuery.MaxLimit}"),
    };

    /// <summary>The body's fields: a JSON object whose members are all known and each a string or null.</summary>
    private static Dictionary<string, string> Fields(byte[] body)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException e)
        {
            throw new SuppressionFieldException("body", $"not JSON ({e.Message})");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new SuppressionFieldException("body", "not a JSON object");
            }

            var fields = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var member in document.RootElement.EnumerateObject())
            {
                if (!EntryFields.Contains(member.Name, StringComparer.Ordinal))
                {
                    throw new SuppressionFieldException(member.Name, $"unknown field; an entry has {string.Join(", ", EntryFields)}");
                }

                if (!seen.Add(member.Name))
                {
                    throw new SuppressionFieldException(member.Name, "given more than once");
                }

                switch (member.Value.ValueKind)
                {
                    case JsonValueKind.String:
                        fields[member.Name] = member.Value.GetString()!;
                        break;
                    case JsonValueKind.Null:
                        break;
                    default:
                        throw new SuppressionFieldException(member.Name, "not a string");
                }
            }

            return fields;
        }
    }

    private sealed class JsonBody(byte[] body, int statusCode) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = statusCode;
            httpContext.Response.ContentType = "application/json; charset=utf-8";
            httpContext.Response.ContentLength = body.Length;
            return httpContext.Response.Body.WriteAsync(body, httpContext.RequestAborted).AsTask();
        }
    }
}
