using System.Globalization;
using ManycoreMail.Events;
using ManycoreMail.EventStore;
using Microsoft.AspNetCore.Http;

namespace ManycoreMail.Roles.HttpReceiver;

/// <summary>
/// <c>GET /v1/events</c>: the event store's pages, oldest first, behind the API's Basic auth. Answers
/// <c>{"events": [...], "next": cursor or null}</c>, each event as the webhook got it plus its <c>id</c>.
/// </summary>
/// <param name="query">Runs a validated query against the store (the file, or the instance the process has open).</param>
internal sealed class EventsEndpoint(ApiAuthentication authentication, Func<EventQuery, CancellationToken, Task<EventPage>> query)
{
    public async Task HandleAsync(HttpContext context)
    {
        if (authentication.Refuse(context) is { } refusal)
        {
            await refusal.ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        EventPage page;
        try
        {
            var request = Parse(context.Request.Query);
            request.Validate();
            page = await query(request, context.RequestAborted).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            await Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad Request", detail: e.Message)
                .ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.Body.WriteAsync(EventPageJson.Render(page), context.RequestAborted).ConfigureAwait(false);
    }

    /// <exception cref="ArgumentException">A parameter given twice or not in its form; the message names it.</exception>
    internal static EventQuery Parse(IQueryCollection parameters)
    {
        foreach (var (key, values) in parameters)
        {
            if (key is not ("uuid" or "email" or "event" or "since" or "until" or "limit" or "after"))
            {
                throw new ArgumentException($"unknown parameter '{key}'; the parameters are uuid, email, event, since, until, limit and after");
            }
            if (values.Count > 1)
            {
                throw new ArgumentException($"parameter '{key}' is given more than once");
            }
        }
        return new EventQuery
        {
            Uuid = Text(parameters, "uuid"),
            Email = Text(parameters, "email"),
            Event = Text(parameters, "event"),
            Since = Time(parameters, "since"),
            Until = Time(parameters, "until"),
            Limit = Limit(parameters),
            After = Text(parameters, "after"),
        };
    }

    private static string? Text(IQueryCollection parameters, string name) =>
        parameters.TryGetValue(name, out var value) && value.ToString() is { Length: > 0 } text ? text : null;

    private static DateTimeOffset? Time(IQueryCollection parameters, string name) => Text(parameters, name) switch
    {
        null => null,
        var text when EventTime.TryParse(text, out var time) => time,
        var text => throw new ArgumentException($"parameter '{name}': '{text}' is neither unix seconds nor an ISO 8601 date and time"),
    };

    private static int Limit(IQueryCollection parameters) => Text(parameters, "limit") switch
    {
        null => EventQuery.DefaultLimit,
        var text when int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit is >= 1 and <= EventQuery.MaxLimit => limit,
        var text => throw new ArgumentException($"parameter 'limit': '{text}' is not a whole number from 1 to {EventQuery.MaxLimit}"),
    };
}
