using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using ManycoreMail.Delivery;
using ManycoreMail.Ingress;

namespace ManycoreMail.Roles.Sender;

/// <summary>
/// <c>mailer queues</c>, <c>mailer queue inspect|suspend|resume|bounce</c>, <c>mailer site suspend|resume|retry</c> and
/// <c>mailer retry</c>: they talk to the running mailer's operations endpoint (sender/admin), since the running
/// process holds the spool and the delivery state.
/// </summary>
internal static class AdminCommands
{
    public const string TokenVariable = "MAILER_ADMIN_TOKEN";

    /// <param name="addConfig">Adds the usual config options to a command and returns how to read sender/admin from them.</param>
    public static IEnumerable<Command> Build(Func<Command, Func<ParseResult, AdminOptions?>> addConfig)
    {
        var queues = new Command("queues", "List the durable queues, the scheduled queues (campaign:tenant@domain) and the sites of a running mailer.");
        var (listTenant, listCampaign) = TenancyOptions(queues, "List only the scheduled queues of");
        Wire(queues, addConfig, (client, parse, output, ct) => client.ListAsync(output, ct, parse.GetValue(listTenant), parse.GetValue(listCampaign)));

        var queue = new Command("queue", "Inspect a message, or suspend / resume / bounce a scheduled queue (NAME, a prefix ending in '*', or --tenant / --campaign).");
        var inspect = new Command("inspect", "Show a message in delivery or deferred (by queue id or X-Uuid).");
        var id = new Argument<string>("ID");
        inspect.Arguments.Add(id);
        Wire(inspect, addConfig, (client, parse, output, ct) => client.SendAsync(HttpMethod.Get, $"messages/{Escape(parse.GetValue(id))}", output, ct));
        queue.Subcommands.Add(inspect);
        foreach (var action in new[] { "suspend", "resume", "bounce" })
        {
            var command = new Command(action, $"{Capitalized(action)} a scheduled queue, or every queue of a tenant and/or campaign.");
            var name = new Argument<string?>("NAME") { Arity = ArgumentArity.ZeroOrOne };
            command.Arguments.Add(name);
            var (tenant, campaign) = TenancyOptions(command, $"{Capitalized(action)} every scheduled queue of");
            command.Validators.Add(result =>
            {
                if (QueuePatternProblem(result.GetValue(name), result.GetValue(tenant), result.GetValue(campaign)) is { } problem)
                {
                    result.AddError(problem);
                }
            });
            Wire(command, addConfig, (client, parse, output, ct) =>
            {
                var pattern = parse.GetValue(name) ?? ScheduledQueueName.PatternFor(parse.GetValue(campaign), parse.GetValue(tenant));
                return client.SendAsync(HttpMethod.Post, $"queues/{Escape(pattern)}/{action}", output, ct);
            });
            queue.Subcommands.Add(command);
        }

        var site = new Command("site", "Suspend, resume or retry now a site (its name as `mailer queues` shows it).");
        foreach (var action in new[] { "suspend", "resume", "retry" })
        {
            var command = new Command(action, action == "retry" ? "Lift the site's back-off now." : $"{Capitalized(action)} delivery to a site.");
            var name = new Argument<string>("NAME");
            command.Arguments.Add(name);
            Wire(command, addConfig, (client, parse, output, ct) => client.SendAsync(HttpMethod.Post, $"sites/{Escape(parse.GetValue(name))}/{action}", output, ct));
            site.Subcommands.Add(command);
        }

        var retry = new Command("retry", "Lift the back-off of every site now.");
        Wire(retry, addConfig, (client, _, output, ct) => client.SendAsync(HttpMethod.Post, "retry", output, ct));
        return [queues, queue, site, retry];
    }

    /// <summary>--tenant and --campaign, whose values are held to the rule the doors apply to them.</summary>
    private static (Option<string?> Tenant, Option<string?> Campaign) TenancyOptions(Command command, string description)
    {
        var tenant = new Option<string?>("--tenant") { Description = description + " this tenant" };
        var campaign = new Option<string?>("--campaign") { Description = description + " this campaign" };
        foreach (var option in (ReadOnlySpan<Option<string?>>)[tenant, campaign])
        {
            option.Validators.Add(result =>
            {
                if (result.GetValueOrDefault<string?>() is { } value && !QueueNamePart.IsValid(value))
                {
                    result.AddError($"{option.Name} '{value}': expecting {QueueNamePart.Rule}");
                }
            });
            command.Options.Add(option);
        }
        return (tenant, campaign);
    }

    /// <summary>A queue is named by NAME or by --tenant / --campaign, not both and not neither.</summary>
    private static string? QueuePatternProblem(string? name, string? tenant, string? campaign) =>
        (name, tenant ?? campaign) switch
        {
            (null, null) => "Name a queue (NAME) or give --tenant and/or --campaign.",
            (not null, not null) => "Give either NAME or --tenant / --campaign, not both.",
            _ => null,
        };

    private static void Wire(Command command, Func<Command, Func<ParseResult, AdminOptions?>> addConfig,
        Func<AdminClient, ParseResult, TextWriter, CancellationToken, Task<int>> run)
    {
        var url = new Option<string?>("--admin-url") { Description = "Operations endpoint, e.g. http://127.0.0.1:8025/ (default: sender/admin of the config)" };
        var token = new Option<string?>("--admin-token") { Description = $"Bearer token; visible to every user in the process list, prefer --admin-token-file or ${TokenVariable}" };
        var tokenFile = new Option<string?>("--admin-token-file") { Description = $"File holding the bearer token (default: ${TokenVariable}, else sender/admin/token of the config)" };
        command.Options.Add(url);
        command.Options.Add(token);
        command.Options.Add(tokenFile);
        var config = addConfig(command);
        command.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var explicitUrl = parse.GetValue(url);
            if (parse.GetValue(token) is not null)
            {
                await error.WriteLineAsync($"warning: --admin-token is visible to every user of this machine in the process list (ps); use --admin-token-file PATH or ${TokenVariable}.").ConfigureAwait(false);
            }
            var (fileToken, problem) = parse.GetValue(tokenFile) is { } file ? ReadTokenFile(file) : (null, null);
            if (problem is not null)
            {
                await error.WriteLineAsync(problem).ConfigureAwait(false);
                return 2;
            }
            var explicitToken = parse.GetValue(token) ?? fileToken ?? Environment.GetEnvironmentVariable(TokenVariable);
            var configured = explicitUrl is null || explicitToken is null ? config(parse) : null;
            var baseUrl = explicitUrl ?? (configured is { } c ? $"http://{Host(c.Bind)}/" : null);
            var bearer = explicitToken ?? configured?.Token;
            if (baseUrl is null || bearer is null)
            {
                await error.WriteLineAsync("No operations endpoint: configure sender/admin or pass --admin-url and --admin-token.").ConfigureAwait(false);
                return 2;
            }
            using var client = new AdminClient(new Uri(baseUrl), bearer);
            try
            {
                return await run(client, parse, output, ct).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                await error.WriteLineAsync($"Cannot reach the mailer at {baseUrl}: {e.Message}").ConfigureAwait(false);
                return 2;
            }
        });
    }

    /// <summary>The token in <paramref name="path"/>, without the line end an editor or <c>echo</c> adds.</summary>
    private static (string? Token, string? Error) ReadTokenFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, $"--admin-token-file {path}: cannot read it: {e.Message}");
        }
        var value = text.TrimEnd('\r', '\n');
        return value.Length < AdminOptions.MinTokenLength
            ? (null, $"--admin-token-file {path}: the token must be at least {AdminOptions.MinTokenLength} characters")
            : (value, null);
    }

    private static string Host(IPEndPoint bind)
    {
        var address = bind.Address.Equals(IPAddress.Any) ? IPAddress.Loopback : bind.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback : bind.Address;
        return new IPEndPoint(address, bind.Port).ToString();
    }

    private static string Escape(string? value) => Uri.EscapeDataString(value ?? "");

    private static string Capitalized(string word) => char.ToUpperInvariant(word[0]) + word[1..];
}

/// <summary>A client of the operations endpoint that prints what it gets back.</summary>
internal sealed class AdminClient : IDisposable
{
    private readonly HttpClient _http;

    public AdminClient(Uri baseUrl, string token)
    {
        _http = new HttpClient { BaseAddress = new Uri(baseUrl, "admin/"), Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>Prints the queues and sites as a table.</summary>
    public async Task<int> ListAsync(TextWriter output, CancellationToken cancellationToken, string? tenant = null, string? campaign = null)
    {
        using var response = await _http.GetAsync(QueuesPath(tenant, campaign), cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            return await FailAsync(response, output, cancellationToken).ConfigureAwait(false);
        }
        var view = await response.Content.ReadFromJsonAsync(AdminJson.Default.QueuesView, cancellationToken).ConfigureAwait(false)
            ?? throw new HttpRequestException("empty answer");
        var culture = CultureInfo.InvariantCulture;
        await output.WriteLineAsync("DURABLE QUEUE                            MESSAGES").ConfigureAwait(false);
        foreach (var q in view.Durable)
        {
            await output.WriteLineAsync(string.Format(culture, "{0,-40} {1,8}", q.Name, q.Count)).ConfigureAwait(false);
        }
        await output.WriteLineAsync().ConfigureAwait(false);
        await output.WriteLineAsync("SCHEDULED QUEUE                          IN-DELIVERY DEFERRED STATE").ConfigureAwait(false);
        foreach (var q in view.Scheduled)
        {
            var state = q.Bounced ? "bounced" : q.Suspended ? "suspended" : "";
            await output.WriteLineAsync(string.Format(culture, "{0,-40} {1,11} {2,8} {3}", q.Name, q.InDelivery, q.Deferred, state)).ConfigureAwait(false);
        }
        await output.WriteLineAsync().ConfigureAwait(false);
        await output.WriteLineAsync("SITE                                     READY CONNECTIONS STATE").ConfigureAwait(false);
        foreach (var s in view.Sites)
        {
            var state = s.Suspended ? "suspended" : s.BackoffUntil is { } until ? $"back-off until {until:u}" : "";
            await output.WriteLineAsync(string.Format(culture, "{0,-40} {1,5} {2,11} {3}", s.Name, s.Ready, s.Connections, state)).ConfigureAwait(false);
        }
        if (view.Sources.Count > 0)
        {
            await output.WriteLineAsync().ConfigureAwait(false);
            await output.WriteLineAsync("POOL         SOURCE       ADDRESS          HELO                           WEIGHT STATE").ConfigureAwait(false);
            foreach (var s in view.Sources)
            {
                var state = s.SuspendedUntil is { } until ? $"suspended until {until:u}" : "";
                await output.WriteLineAsync(string.Format(culture, "{0,-12} {1,-12} {2,-16} {3,-30} {4,6} {5}", s.Pool, s.Name, s.Address, s.HeloName, s.Weight, state)).ConfigureAwait(false);
                foreach (var w in s.WarmUp)
                {
                    await output.WriteLineAsync(string.Format(culture, "  warm-up {0}: {1}/{2} today", w.Provider, w.Sent, w.Cap)).ConfigureAwait(false);
                }
            }
        }
        foreach (var a in view.Adaptive)
        {
            await output.WriteLineAsync($"adaptive: {a.Action} {a.Target} until {a.Until:u} (rule {a.Rule}: {a.Reply})").ConfigureAwait(false);
        }
        foreach (var pattern in view.SuspendedQueues)
        {
            await output.WriteLineAsync($"suspended: {pattern}").ConfigureAwait(false);
        }
        foreach (var pattern in view.BouncedQueues)
        {
            await output.WriteLineAsync($"bouncing: {pattern}").ConfigureAwait(false);
        }
        return 0;
    }

    private static string QueuesPath(string? tenant, string? campaign)
    {
        var query = new List<string>(2);
        if (tenant is not null)
        {
            query.Add("tenant=" + Uri.EscapeDataString(tenant));
        }
        if (campaign is not null)
        {
            query.Add("campaign=" + Uri.EscapeDataString(campaign));
        }
        return query.Count == 0 ? "queues" : "queues?" + string.Join('&', query);
    }

    /// <summary>Prints the JSON answer as it came (an operation's result or a message).</summary>
    public async Task<int> SendAsync(HttpMethod method, string path, TextWriter output, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path);
        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            return await FailAsync(response, output, cancellationToken).ConfigureAwait(false);
        }
        await output.WriteLineAsync(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
        return 0;
    }

    private static async Task<int> FailAsync(HttpResponseMessage response, TextWriter output, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        var detail = body;
        try
        {
            using var problem = JsonDocument.Parse(body);
            detail = problem.RootElement.TryGetProperty("detail", out var d) ? d.GetString() ?? body : body;
        }
        catch (JsonException)
        {
        }
        await output.WriteLineAsync($"{(int)response.StatusCode} {response.ReasonPhrase}: {detail}").ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.NotFound ? 1 : 2;
    }

    public void Dispose() => _http.Dispose();
}
