using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ManycoreMail.Config;
using ManycoreMail.EventStore;

namespace ManycoreMail.Events;

/// <summary>
/// <c>mailer events [--uuid U] [--email E] [--event T] [--since] [--until] [--limit N] [--json] [--follow]</c>: the
/// events in the store of the configuration (<c>storage/path</c>/events.db, or <c>events/postgresql</c>), oldest
/// first, as a table or one JSON object per line. It reads beside a running mailer (SQLite read-only, no lock).
/// </summary>
internal static class EventsCommand
{
    /// <summary>How often <c>--follow</c> looks for new events: new ones show within a second, and an idle follower
    /// costs one indexed query a second.</summary>
    private static readonly TimeSpan FollowInterval = TimeSpan.FromSeconds(1);

    /// <summary>Adds the listing's options and action to <paramref name="events"/> (whose subcommands, such as
    /// <c>dead-letters</c>, keep theirs).</summary>
    public static Command AddListing(Command events, Func<Command, Func<ParseResult, MailerOptions>> addConfig)
    {
        var uuid = new Option<string?>("--uuid") { Description = "Only the events of this message uuid" };
        var email = new Option<string?>("--email") { Description = "Only the events of this recipient (any case)" };
        var kind = new Option<string?>("--event") { Description = "Only events of this type (delivered, bounce, ...)" };
        var since = new Option<string?>("--since") { Description = "From this time on: unix seconds or ISO 8601" };
        var until = new Option<string?>("--until") { Description = "Before this time: unix seconds or ISO 8601" };
        var limit = new Option<int>("--limit") { Description = $"At most this many events (1..{EventQuery.MaxLimit}; default {EventQuery.DefaultLimit}); with --follow, the size of each read", DefaultValueFactory = _ => EventQuery.DefaultLimit };
        var json = new Option<bool>("--json") { Description = "One JSON object per line (each event as the webhook got it, plus its id)" };
        var follow = new Option<bool>("--follow") { Description = "Keep printing new events as they are stored, until Ctrl-C" };
        foreach (var option in (Option[])[uuid, email, kind, since, until, limit, json, follow])
        {
            events.Options.Add(option);
        }
        var config = addConfig(events);
        events.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            EventQuery query;
            MailerOptions options;
            try
            {
                options = config(parse);
                query = new EventQuery
                {
                    Uuid = parse.GetValue(uuid),
                    Email = parse.GetValue(email),
                    Event = parse.GetValue(kind),
                    Since = Time(parse.GetValue(since), "--since"),
                    Until = Time(parse.GetValue(until), "--until"),
                    Limit = parse.GetValue(limit),
                };
                query.Validate();
            }
            catch (ConfigException e)
            {
                await error.WriteLineAsync(e.Message).ConfigureAwait(false);
                return 2;
            }
            catch (ArgumentException e)
            {
                await error.WriteLineAsync(e.Message).ConfigureAwait(false);
                return 2;
            }
            try
            {
                await PrintAsync(options, query, parse.GetValue(json), parse.GetValue(follow), output, error, ct).ConfigureAwait(false);
                return 0;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return 0;
            }
        });
        return events;
    }

    private static DateTimeOffset? Time(string? text, string option) => text switch
    {
        null => null,
        _ when EventTime.TryParse(text, out var time) => time,
        _ => throw new ArgumentException($"{option}: '{text}' is neither unix seconds nor an ISO 8601 date and time"),
    };

    private static async Task PrintAsync(MailerOptions options, EventQuery query, bool json, bool follow, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (!json)
        {
            await output.WriteLineAsync($"{"ID",10}  {"TIME (UTC)",-20}  {"EVENT",-12}  {"UUID",-36}  EMAIL").ConfigureAwait(false);
        }
        var remaining = query.Limit;
        var reported = false;
        while (true)
        {
            var page = await ConfiguredEventStore.TryQueryAsync(options.Events, options.Storage, query with { Limit = Math.Clamp(remaining, 1, EventQuery.MaxLimit) }, cancellationToken).ConfigureAwait(false);
            if (page is null)
            {
                if (!reported)
                {
                    await error.WriteLineAsync($"No event store {ConfiguredEventStore.Describe(options.Events, options.Storage)} yet (the backdata role creates it).").ConfigureAwait(false);
                    reported = true;
                }
                page = new EventPage([], null);
            }
            foreach (var stored in page.Events)
            {
                await output.WriteLineAsync(json ? Encoding.UTF8.GetString(stored.ToJsonWithId()) : TableRow(stored)).ConfigureAwait(false);
            }
            if (page.Events.Count > 0)
            {
                query = query with { After = page.Events[^1].Cursor };
            }
            if (!follow)
            {
                remaining -= page.Events.Count;
                if (page.Next is null || remaining <= 0)
                {
                    return;
                }
                continue;
            }
            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (page.Next is null)
            {
                // Following: every new event is shown, so the page size is no longer the backlog's.
                remaining = EventQuery.MaxLimit;
                await Task.Delay(FollowInterval, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static string TableRow(StoredEvent stored)
    {
        using var document = JsonDocument.Parse(stored.Json);
        var root = document.RootElement;
        var time = root.TryGetProperty("timestamp", out var ts) && ts.TryGetDouble(out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds((long)Math.Floor(seconds)).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)
            : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"{stored.Id,10}  {time,-20}  {Member(root, "event"),-12}  {Member(root, "uuid"),-36}  {Member(root, "email")}");
    }

    private static string Member(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : "";
}
