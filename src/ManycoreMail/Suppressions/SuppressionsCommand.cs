using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ManycoreMail.Config;
using ManycoreMail.Hosting;
using ManycoreMail.Suppression;
using Spectre.Console;

namespace ManycoreMail.Suppressions;

/// <summary>
/// <c>mailer suppressions list|add|remove|import</c>: the suppression list of the configuration, opened directly (the
/// SQLite file in <c>storage/path</c> beside a running mailer, which goes on reading and writing it meanwhile).
/// Exit codes: 0 done, 1 nothing to remove or bad rows skipped, 2 bad arguments or configuration.
/// </summary>
internal static class SuppressionsCommand
{
    public static Command Build(Func<Command, Func<ParseResult, MailerOptions>> addConfig)
    {
        var command = new Command("suppressions", "List, add, remove or import suppression entries (addresses that get no mail).");
        command.Subcommands.Add(List(addConfig));
        command.Subcommands.Add(Add(addConfig));
        command.Subcommands.Add(Remove(addConfig));
        command.Subcommands.Add(Import(addConfig));
        return command;
    }

    private static Command List(Func<Command, Func<ParseResult, MailerOptions>> addConfig)
    {
        var command = new Command("list", "Print the entries (every one, or one address's), ordered by address.");
        var email = new Option<string?>("--email") { Description = "Only this address's entries (any case)" };
        var json = new Option<bool>("--json") { Description = "One JSON object per line, as GET /v1/suppressions shows an entry" };
        var tenant = new Option<string?>("--tenant") { Description = "Only the entries of this tenant's scope (scope tenant, value T)" };
        command.Options.Add(email);
        command.Options.Add(json);
        command.Options.Add(tenant);
        var config = addConfig(command);
        command.SetAction((parse, ct) => WithStoreAsync(parse, config, async (store, output) =>
        {
            var address = parse.GetValue(email) is { } text ? SuppressionInput.Key(text, null, null).Email : null;
            var asJson = parse.GetValue(json);
            if (!asJson)
            {
                await output.WriteLineAsync($"{"EMAIL",-40}  {"SCOPE",-7}  {"VALUE",-30}  {"REASON",-11}  {"CREATED (UTC)",-20}  EXPIRES (UTC)").ConfigureAwait(false);
            }

            var query = new SuppressionQuery { Email = address, Limit = SuppressionQuery.MaxLimit };
            while (true)
            {
                var page = await store.ListAsync(query, ct).ConfigureAwait(false);
                foreach (var entry in page.Entries.Where(e => IsOfTenant(e, parse.GetValue(tenant))))
                {
                    await output.WriteLineAsync(asJson ? Encoding.UTF8.GetString(SuppressionEntryJson.Render(entry)) : Row(entry)).ConfigureAwait(false);
                }

                if (page.Next is null)
                {
                    return 0;
                }

                query = query with { After = page.Next };
            }
        }, ct));
        return command;
    }

    /// <summary>True for every entry when <paramref name="tenant"/> is null, else for the tenant's own entries (the
    /// global ones stop its mail too, but they are not the tenant's to see).</summary>
    private static bool IsOfTenant(SuppressionEntry entry, string? tenant) =>
        tenant is null || (entry.Scope == SuppressionScope.Tenant && string.Equals(entry.Value, tenant.Trim(), StringComparison.Ordinal));

    private static Command Add(Func<Command, Func<ParseResult, MailerOptions>> addConfig)
    {
        var command = new Command("add", "Add an entry, or replace the one with the same address, scope and value.");
        var email = new Argument<string>("EMAIL") { Description = "The address that is to get no mail" };
        var (scope, value) = KeyOptions(command);
        var reason = new Option<string?>("--reason") { Description = "unsubscribe, complaint, bounce or manual (default)" };
        var expires = new Option<string?>("--expires") { Description = "When the entry ends: RFC 3339 (2027-01-31T00:00:00Z) or Unix seconds (default: never)" };
        command.Arguments.Add(email);
        command.Options.Add(reason);
        command.Options.Add(expires);
        var config = addConfig(command);
        command.SetAction((parse, ct) => WithStoreAsync(parse, config, async (store, output) =>
        {
            var entry = SuppressionInput.Entry(parse.GetValue(email), parse.GetValue(scope), parse.GetValue(value), parse.GetValue(reason),
                parse.GetValue(expires), TimeProvider.System.GetUtcNow());
            await store.AddAsync([entry], ct).ConfigureAwait(false);
            await output.WriteLineAsync($"Added {Describe(entry.Email, entry.Scope, entry.Value)}.").ConfigureAwait(false);
            return 0;
        }, ct));
        return command;
    }

    private static Command Remove(Func<Command, Func<ParseResult, MailerOptions>> addConfig)
    {
        var command = new Command("remove", "Remove an entry (exit code 1 when there was none).");
        var email = new Argument<string>("EMAIL") { Description = "The entry's address" };
        var (scope, value) = KeyOptions(command);
        command.Arguments.Add(email);
        var config = addConfig(command);
        command.SetAction((parse, ct) => WithStoreAsync(parse, config, async (store, output) =>
        {
            var (address, parsedScope, parsedValue) = SuppressionInput.Key(parse.GetValue(email), parse.GetValue(scope), parse.GetValue(value));
            if (await store.RemoveAsync(address, parsedScope, parsedValue, ct).ConfigureAwait(false))
            {
                await output.WriteLineAsync($"Removed {Describe(address, parsedScope, parsedValue)}.").ConfigureAwait(false);
                return 0;
            }

            await parse.InvocationConfiguration.Error.WriteLineAsync($"There is no {Describe(address, parsedScope, parsedValue)}.").ConfigureAwait(false);
            return 1;
        }, ct));
        return command;
    }

    private static Command Import(Func<Command, Func<ParseResult, MailerOptions>> addConfig)
    {
        var command = new Command("import", "Add the entries of a CSV file whose header names its columns: email[,scope,value,reason,expires]. Bad rows are reported with their line and skipped (exit code 1).");
        var file = new Argument<string>("FILE.csv") { Description = "The CSV file (UTF-8, comma-separated, fields may be quoted)" };
        command.Arguments.Add(file);
        var config = addConfig(command);
        command.SetAction((parse, ct) => WithStoreAsync(parse, config, async (store, output) =>
        {
            var path = parse.GetValue(file)!;
            if (!File.Exists(path))
            {
                throw new SuppressionFieldException("FILE.csv", $"{path} does not exist");
            }

            var error = parse.InvocationConfiguration.Error;
            var import = new SuppressionImport(store, TimeProvider.System);
            var clock = Stopwatch.StartNew();
            ImportProgress done;
            if (ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected)
            {
                // A terminal gets a bar; bad rows go to stderr meanwhile (the bar redraws below them).
                done = await AnsiConsole.Progress().AutoClear(false).StartAsync(async context =>
                {
                    var task = context.AddTask("Importing " + Path.GetFileName(path), maxValue: Math.Max(new FileInfo(path).Length, 1));
                    return await import.ImportAsync(path, error.WriteLineAsync, state => task.Value = state.BytesRead, ct).ConfigureAwait(false);
                }).ConfigureAwait(false);
            }
            else
            {
                // A file or a pipe gets one plain line per batch instead of a bar's control codes.
                done = await import.ImportAsync(path, error.WriteLineAsync,
                    state => output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{state.Rows} rows read ({Percent(state)}%), {state.Imported} imported, {state.Bad} bad")), ct).ConfigureAwait(false);
            }

            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"Imported {done.Imported} entries from {done.Rows} rows in {clock.Elapsed.TotalSeconds:0.0} s; {done.Bad} bad rows skipped.")).ConfigureAwait(false);
            return done.Bad > 0 ? 1 : 0;
        }, ct));
        return command;
    }

    private static (Option<string?> Scope, Option<string?> Value) KeyOptions(Command command)
    {
        var scope = new Option<string?>("--scope") { Description = "global (default), tenant, domain or sender" };
        var value = new Option<string?>("--value") { Description = "The tenant, the sending domain or the sender address (none for global)" };
        command.Options.Add(scope);
        command.Options.Add(value);
        return (scope, value);
    }

    /// <summary>Loads the configuration, opens the store, runs <paramref name="action"/>, and turns a bad argument or
    /// configuration into its message and exit code 2.</summary>
    private static async Task<int> WithStoreAsync(ParseResult parse, Func<ParseResult, MailerOptions> config,
        Func<ISuppressionStore, TextWriter, Task<int>> action, CancellationToken cancellationToken)
    {
        var error = parse.InvocationConfiguration.Error;
        try
        {
            await using var store = SuppressionStores.Open(config(parse));
            return await action(store, parse.InvocationConfiguration.Output).ConfigureAwait(false);
        }
        catch (ConfigException e)
        {
            await error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 2;
        }
        catch (SuppressionFieldException e)
        {
            await error.WriteLineAsync($"{e.Field}: {e.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return 130;
        }
    }

    private static string Row(SuppressionEntry entry) => string.Create(CultureInfo.InvariantCulture,
        $"{entry.Email,-40}  {SuppressionNames.Name(entry.Scope),-7}  {(entry.Value.Length == 0 ? "-" : entry.Value),-30}  {SuppressionNames.Name(entry.Reason),-11}  {Time(entry.Created),-20}  {(entry.Expires is { } expires ? Time(expires) : "never")}");

    private static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    private static string Describe(string email, SuppressionScope scope, string value) => $"{SuppressionNames.Format(scope, value)} suppression of {email}";

    private static long Percent(ImportProgress state) => state.Bytes == 0 ? 100 : state.BytesRead * 100 / state.Bytes;
}
