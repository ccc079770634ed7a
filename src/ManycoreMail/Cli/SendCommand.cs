using System.CommandLine;
using System.Globalization;
using System.Net;
using ManycoreMail.Config;

namespace ManycoreMail.Cli;

/// <summary>
/// <c>mailer send --from F --subject S (--html FILE | --text FILE | --template T) (--to A ... | --recipients FILE.csv)
/// [--send-at T]</c>: sends through the HTTP API's <c>POST /v1/messages</c> in batches of at most 1000 recipients.
/// The API and its login come from --api/--user/--password, else MAILER_API_USER/MAILER_API_PASSWORD, else the
/// configuration's http-receiver (its bind, its first login).
/// </summary>
internal static class SendCommand
{
    public const string UserVariable = "MAILER_API_USER";
    public const string PasswordVariable = "MAILER_API_PASSWORD";
    public const string MessagesPath = "/v1/messages";

    public static Command Build(Func<Command, Func<ParseResult, MailerOptions>> addConfig)
    {
        var command = new Command("send", "Send a message to a list of recipients through the HTTP API (POST /v1/messages), 1000 recipients per request. "
            + "Prints each message's uuid and recipient. A re-run after a failure sends only what was not accepted.");
        var from = new Option<string>("--from") { Description = "The sender, as \"Name <address>\" or an address", Required = true };
        var subject = new Option<string>("--subject") { Description = "The subject; may hold {{placeholders}}", Required = true };
        var html = new Option<FileInfo?>("--html") { Description = "A file with the HTML body" };
        var text = new Option<FileInfo?>("--text") { Description = "A file with the plain text body" };
        var template = new Option<string?>("--template") { Description = "A stored template: name or name@version" };
        var to = new Option<string[]>("--to") { Description = "A recipient address (repeat for more)", AllowMultipleArgumentsPerToken = true };
        var list = new Option<FileInfo?>("--recipients") { Description = "A CSV file with a header: email, optional name and uuid, every other column a substitution" };
        var sendAt = new Option<string?>("--send-at") { Description = "When to send, RFC 3339 (2026-12-24T09:00:00Z); default now" };
        var api = new Option<string?>("--api") { Description = "The HTTP API's base URL (default: the configured http-receiver bind)" };
        var user = new Option<string?>("--user") { Description = $"API login (default: ${UserVariable}, else the first configured http-receiver login)" };
        var password = new Option<string?>("--password") { Description = $"API password (default: ${PasswordVariable}, else the configured one)" };
        var summary = new Option<bool>("--summary") { Description = "Print only a summary, not one line per message" };
        foreach (var option in new Option[] { from, subject, html, text, template, to, list, sendAt, api, user, password, summary })
        {
            command.Options.Add(option);
        }

        var config = addConfig(command);
        command.SetAction(async (parse, ct) =>
        {
            var error = parse.InvocationConfiguration.Error;
            try
            {
                var message = new SendMessageFields(parse.GetValue(from)!, parse.GetValue(subject)!, ReadFile(parse.GetValue(text), "--text"),
                    ReadFile(parse.GetValue(html), "--html"), parse.GetValue(template), ParseSendAt(parse.GetValue(sendAt)));
                if (message.Text is null && message.Html is null && message.Template is null)
                {
                    throw new SendArgumentException("one of --html, --text or --template is required");
                }

                var recipients = Recipients(parse.GetValue(to), parse.GetValue(list));
                var target = ApiTarget.Resolve(ParseApi(parse.GetValue(api)), parse.GetValue(user), parse.GetValue(password), () => config(parse).HttpReceiver);
                using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
                var client = new SendApiClient(http, target.MessagesUrl, target.User, target.Password);
                var job = new SendJob(message, recipients, client, new Compose.SendRequestLimits().MaxRecipients) { SummaryOnly = parse.GetValue(summary) };
                var errorIsTerminal = ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected;
                return await job.RunAsync(parse.InvocationConfiguration.Output, error, errorIsTerminal, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SendArgumentException or ConfigException)
            {
                await error.WriteLineAsync(e.Message).ConfigureAwait(false);
                return 2;
            }
        });
        return command;
    }

    private static SendRecipients Recipients(string[]? to, FileInfo? list) => (to is { Length: > 0 }, list) switch
    {
        (true, null) => SendRecipients.FromAddresses(to!),
        (false, { } file) => SendRecipients.FromCsv(file.FullName),
        (true, not null) => throw new SendArgumentException("give either --to or --recipients, not both"),
        _ => throw new SendArgumentException("recipients are required: --to ADDRESS (repeatable) or --recipients FILE.csv"),
    };

    private static string? ReadFile(FileInfo? file, string option)
    {
        if (file is null)
        {
            return null;
        }

        try
        {
            return File.ReadAllText(file.FullName);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SendArgumentException($"{option}: {file.FullName}: {e.Message}");
        }
    }

    private static Uri? ParseApi(string? text) =>
        text is null ? null
        : Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme is "http" or "https" ? url
        : throw new SendArgumentException($"--api: '{text}' is not an http or https URL");

    internal static DateTimeOffset? ParseSendAt(string? text)
    {
        if (text is null)
        {
            return null;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when)
            ? when
            : throw new SendArgumentException($"--send-at: '{text}' is not a date-time; write it as RFC 3339, e.g. 2026-12-24T09:00:00Z");
    }

    /// <summary>Where to post and as whom.</summary>
    internal sealed record ApiTarget(Uri MessagesUrl, string User, string Password)
    {
        /// <summary>Options first, then the environment, then the configuration (loaded only when something is missing).</summary>
        public static ApiTarget Resolve(Uri? api, string? user, string? password, Func<HttpReceiverOptions?> loadReceiver)
        {
            user ??= Environment.GetEnvironmentVariable(UserVariable);
            password ??= Environment.GetEnvironmentVariable(PasswordVariable);
            HttpReceiverOptions? receiver = null;
            if (api is null || user is null || password is null)
            {
                receiver = loadReceiver()
                    ?? throw new SendArgumentException("the configuration has no httpreceiver section: give --api, --user and --password");
            }

            var login = receiver?.Logins.FirstOrDefault();
            user ??= login?.Username ?? throw new SendArgumentException($"no API login: give --user or ${UserVariable}");
            password ??= login?.Password ?? throw new SendArgumentException($"no API password: give --password or ${PasswordVariable}");
            var baseUrl = api ?? BaseUrlOf(receiver!.Bind);
            if (!baseUrl.IsAbsoluteUri || baseUrl.Scheme is not ("http" or "https"))
            {
                throw new SendArgumentException($"--api: '{baseUrl}' is not an http or https URL");
            }

            return new ApiTarget(new Uri(baseUrl, baseUrl.AbsolutePath.TrimEnd('/') + MessagesPath), user, password);
        }

        /// <summary>A listener on every address is reached on loopback.</summary>
        internal static Uri BaseUrlOf(IPEndPoint bind)
        {
            var address = bind.Address.Equals(IPAddress.Any) ? IPAddress.Loopback
                : bind.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback
                : bind.Address;
            return new Uri($"http://{new IPEndPoint(address, bind.Port)}/");
        }
    }
}

/// <summary>A bad option value of <c>mailer send</c>; the message says which option and why.</summary>
internal sealed class SendArgumentException(string message) : Exception(message);
