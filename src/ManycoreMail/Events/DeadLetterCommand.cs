using System.CommandLine;
using System.Text;
using System.Text.Json;
using ManycoreMail.Config;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.Queue.Redis;

namespace ManycoreMail.Events;

/// <summary>
/// <c>mailer events dead-letters [--replay]</c>: the events backdata could not post as they are (not JSON, or refused
/// by the webhook on their own), one JSON line each; <c>--replay</c> puts them back on the events queue.
/// </summary>
/// <remarks>
/// The store is the one the events are in: the embedded spool in <c>storage/path</c> when there is one, else Redis
/// when the configuration names it (<c>--queue</c> says which). A running mailer holds the embedded spool's lock:
/// listing reads beside it (SQLite's WAL lets a reader in), a replay needs the mailer stopped.
/// </remarks>
internal static class DeadLetterCommand
{
    private const int Max = 100_000;

    /// <param name="addConfig">Adds the usual config options to a command and returns how to load them
    /// (throwing <see cref="ConfigException"/>).</param>
    public static Command Build(Func<Command, Func<ParseResult, MailerOptions>> addConfig)
    {
        var events = new Command("events", "The event store (listing, --follow) and the events queue (dead-letters).");
        var deadLetters = new Command("dead-letters", "List the events that could not be posted as they are (one JSON line each); --replay puts them back on the events queue.");
        var replay = new Option<bool>("--replay") { Description = "Put every dead-lettered event back on the events queue (on the embedded spool: with the mailer stopped)" };
        var queue = new Option<string?>("--queue") { Description = "Where the events are: embedded (default when storage/path holds a spool) or redis (default otherwise)" };
        queue.AcceptOnlyFromAmong("embedded", "redis");
        deadLetters.Options.Add(replay);
        deadLetters.Options.Add(queue);
        var config = addConfig(deadLetters);
        deadLetters.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            MailerOptions options;
            try
            {
                options = config(parse);
            }
            catch (ConfigException e)
            {
                await error.WriteLineAsync(e.Message).ConfigureAwait(false);
                return 2;
            }
            var spool = Path.Combine(options.Storage.Path, "spool");
            var onRedis = parse.GetValue(queue) is { } explicitQueue
                ? explicitQueue == "redis"
                : !File.Exists(Path.Combine(spool, "spool.db")) && options.Redis.Configured;
            try
            {
                if (onRedis)
                {
                    await using var store = await RedisQueueStore.ConnectAsync(Hosting.MailerHost.RedisClientOf(options.Redis, "manycore-mail-cli-" + Environment.ProcessId), TimeProvider.System, null, ct).ConfigureAwait(false);
                    return await RunAsync(store, options.Queues.Events, parse.GetValue(replay), output, ct).ConfigureAwait(false);
                }
                if (!parse.GetValue(replay))
                {
                    // Beside a running mailer or not: a read-only reader takes no lock.
                    await PrintAsync(EmbeddedSpool.ReadDeadLettersBeside(spool, options.Queues.Events, Max), output).ConfigureAwait(false);
                    return 0;
                }
                await using var embedded = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = spool }, TimeProvider.System, ct).ConfigureAwait(false);
                return await RunAsync(embedded, options.Queues.Events, true, output, ct).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                // The spool's lock (a mailer runs on it), no spool at all, or Redis not answering.
                await error.WriteLineAsync($"{e.Message} To replay dead letters on the embedded spool, stop the mailer first; listing works while it runs.").ConfigureAwait(false);
                return 1;
            }
            catch (Exception e) when (e is QueueUnavailableException or QueueStoreException)
            {
                await error.WriteLineAsync($"Redis at {options.Redis.Hostname}:{options.Redis.Port}: {e.Message}").ConfigureAwait(false);
                return 1;
            }
        });
        events.Subcommands.Add(deadLetters);
        return events;
    }

    private static async Task<int> RunAsync(IDeadLetterStore store, string queue, bool replay, TextWriter output, CancellationToken cancellationToken)
    {
        if (replay)
        {
            var replayed = await store.ReplayDeadLettersAsync(queue, Max, cancellationToken).ConfigureAwait(false);
            await output.WriteLineAsync($"{replayed} event(s) put back on {queue}.").ConfigureAwait(false);
            return 0;
        }
        await PrintAsync(await store.ReadDeadLettersAsync(queue, Max, cancellationToken).ConfigureAwait(false), output).ConfigureAwait(false);
        return 0;
    }

    private static async Task PrintAsync(IReadOnlyList<DeadLetteredItem> items, TextWriter output)
    {
        foreach (var item in items)
        {
            await output.WriteLineAsync(ToJsonLine(item)).ConfigureAwait(false);
        }
    }

    /// <summary>The stored bytes as text when they are UTF-8 (what was refused, to be looked at), else base64.</summary>
    private static string ToJsonLine(DeadLetteredItem item)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256 + item.Body.Length);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("id", item.Id);
            json.WriteString("failed-at", item.FailedAt);
            json.WriteString("reason", item.Reason);
            json.WriteString("uuid", item.Envelope.Uuid);
            if (System.Text.Unicode.Utf8.IsValid(item.Body.Span))
            {
                json.WriteString("body", Encoding.UTF8.GetString(item.Body.Span));
            }
            else
            {
                json.WriteBase64String("body-base64", item.Body.Span);
            }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
