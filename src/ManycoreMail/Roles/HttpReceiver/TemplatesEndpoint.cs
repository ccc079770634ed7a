using System.Globalization;
using System.Text.Json;
using ManycoreMail.Hosting;
using ManycoreMail.Templates;
using Microsoft.AspNetCore.Http;

namespace ManycoreMail.Roles.HttpReceiver;

/// <summary>
/// <c>/v1/templates</c> behind the API's Basic auth: <c>PUT /v1/templates/{name}</c> with <c>{subject, text, html}</c>
/// stores a new version (201 <c>{name, version}</c>; 422 naming the part and line of a part that does not parse),
/// <c>GET /v1/templates</c> lists names with their latest version, <c>GET /v1/templates/{name}[?version=N]</c> reads
/// one, <c>DELETE /v1/templates/{name}</c> removes every version (204, or 404). Every refusal is problem+json.
/// </summary>
internal sealed class TemplatesEndpoint(ApiAuthentication authentication, TemplateStores stores, TemplateRenderer renderer)
{
    /// <summary>Templates are HTML mails; a megabyte is far beyond any real one.</summary>
    private const int MaxBodyBytes = 1024 * 1024;

    private static readonly string[] Parts = [TemplatePart.Subject, TemplatePart.Text, TemplatePart.Html];

    public async Task HandleAsync(HttpContext context)
    {
        if (authentication.Refuse(context) is { } refusal)
        {
            await refusal.ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        var name = context.Request.RouteValues["name"] as string;
        var method = context.Request.Method;
        IResult result;
        if (name is not null && !TemplateNames.IsValid(name))
        {
            result = Problem(StatusCodes.Status400BadRequest, "name", $"'{name}' is not a template name (1 to {TemplateNames.MaxLength} of A-Z a-z 0-9 _ . -)");
        }
        else
        {
            var store = await stores.GetAsync(context.RequestAborted).ConfigureAwait(false);
            result = (name, method) switch
            {
                (null, _) when HttpMethods.IsGet(method) => Results.Json(new { templates = (await store.ListAsync(context.RequestAborted).ConfigureAwait(false))
                    .Select(t => new { name = t.Name, version = t.LatestVersion }) }),
                (not null, _) when HttpMethods.IsPut(method) => await PutAsync(context, store, name).ConfigureAwait(false),
                (not null, _) when HttpMethods.IsGet(method) => await GetAsync(context, store, name).ConfigureAwait(false),
                (not null, _) when HttpMethods.IsDelete(method) => await store.DeleteAsync(name, context.RequestAborted).ConfigureAwait(false)
                    ? Results.NoContent()
                    : Problem(StatusCodes.Status404NotFound, "name", $"there is no template '{name}'"),
                _ => Results.Problem(statusCode: StatusCodes.Status405MethodNotAllowed, title: "Method Not Allowed"),
            };
        }

        await result.ExecuteAsync(context).ConfigureAwait(false);
    }

    private async Task<IResult> PutAsync(HttpContext context, ITemplateStore store, string name)
    {
        if (await HttpBodies.ReadLimitedAsync(context.Request, MaxBodyBytes, context.RequestAborted).ConfigureAwait(false) is not { } body)
        {
            return Results.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Payload Too Large", detail: $"a template is at most {MaxBodyBytes} bytes");
        }

        if (ReadContent(body, out var field, out var detail) is not { } content)
        {
            return Problem(StatusCodes.Status400BadRequest, field!, detail!);
        }

        try
        {
            renderer.Validate(content);
        }
        catch (TemplateParseException e)
        {
            return Results.Problem(statusCode: StatusCodes.Status422UnprocessableEntity, title: "Unprocessable Entity",
                detail: $"{e.Part}: line {e.Line}: {e.Detail}",
                extensions: new Dictionary<string, object?> { ["field"] = e.Part, ["line"] = e.Line });
        }

        var version = await store.PutAsync(name, content, context.RequestAborted).ConfigureAwait(false);
        context.Response.Headers.Location = $"/v1/templates/{name}?version={version.ToString(CultureInfo.InvariantCulture)}";
        return Results.Json(new { name, version }, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> GetAsync(HttpContext context, ITemplateStore store, string name)
    {
        int? version = null;
        var query = context.Request.Query;
        if (query.Keys.Any(k => k != "version"))
        {
            return Problem(StatusCodes.Status400BadRequest, query.Keys.First(k => k != "version"), "unknown parameter; the only parameter is version");
        }

        if (query.TryGetValue("version", out var text))
        {
            if (text.Count != 1 || !int.TryParse(text.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) || parsed < 1)
            {
                return Problem(StatusCodes.Status400BadRequest, "version", $"'{text}' is not a version number (a whole number from 1)");
            }

            version = parsed;
        }

        if (await store.GetAsync(name, version, context.RequestAborted).ConfigureAwait(false) is not { } template)
        {
            return Problem(StatusCodes.Status404NotFound, version is null ? "name" : "version",
                version is null ? $"there is no template '{name}'" : $"template '{name}' has no version {version}");
        }

        return Results.Json(new
        {
            name = template.Name,
            version = template.Version,
            subject = template.Content.Subject,
            text = template.Content.Text,
            html = template.Content.Html,
            created = template.Created.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
        });
    }

    /// <summary>The body as a template: a JSON object of only subject, text and html, each a string or null, with
    /// text or html present.</summary>
    private static TemplateContent? ReadContent(byte[] body, out string? field, out string? detail)
    {
        (field, detail) = (null, null);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException e)
        {
            (field, detail) = ("body", $"not JSON ({e.Message})");
            return null;
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                (field, detail) = ("body", "not a JSON object");
                return null;
            }

            var parts = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!Parts.Contains(property.Name, StringComparer.Ordinal))
                {
                    (field, detail) = (property.Name, "unknown field; the fields are subject, text and html");
                    return null;
                }

                switch (property.Value.ValueKind)
                {
                    case JsonValueKind.String:
                        parts[property.Name] = property.Value.GetString()!;
                        break;
                    case JsonValueKind.Null:
                        break;
                    default:
                        (field, detail) = (property.Name, "must be a string");
                        return null;
                }
            }

            if (!parts.ContainsKey(TemplatePart.Text) && !parts.ContainsKey(TemplatePart.Html))
            {
                (field, detail) = ("text", "a template needs text or html (or both)");
                return null;
            }

            return new TemplateContent(parts.GetValueOrDefault(TemplatePart.Subject), parts.GetValueOrDefault(TemplatePart.Text), parts.GetValueOrDefault(TemplatePart.Html));
        }
    }

    private static IResult Problem(int status, string field, string detail) =>
        Results.Problem(statusCode: status, detail: $"{field}: {detail}", extensions: new Dictionary<string, object?> { ["field"] = field });
}
