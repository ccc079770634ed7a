using System.CommandLine;
using System.Net;
using System.Text;
using ManycoreMail.Cli;
using ManycoreMail.Compose;

namespace ManycoreMail.Tests.Send;

/// <summary><c>mailer send</c>: CSV and --to lists become requests that <see cref="SendRequestParser"/> accepts, in
/// batches of at most 1000, posted to a local stand-in for the API that answers 202, 422 or 503.</summary>
public sealed class SendCommandTests : IDisposable
{
    private static readonly SendMessageFields Message = new("News <news@example.com>", "Hello {{name}}", "Hi {{name}} from {{shop}}", "<p>Hi {{name}}</p>", null,
        new DateTimeOffset(2026, 12, 24, 9, 0, 0, TimeSpan.Zero));

    private readonly string _directory = Directory.CreateTempSubdirectory("mailer-send-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Csv(string text)
    {
        var path = Path.Combine(_directory, "list.csv");
        File.WriteAllText(path, text, new UTF8Encoding(false));
        return path;
    }

    private string BigCsv(int rows) =>
        Csv("email,name,plan\n" + string.Concat(Enumerable.Range(1, rows).Select(i => $"user{i}@example.net,User {i},plan-{i % 3}\n")));

    private static List<IReadOnlyList<SendRecipientRow>> Batches(SendRecipients recipients, int size) =>
        [.. recipients.Batches(size, CancellationToken.None).Select(b => b.Batch)];

    [Fact]
    public void Csv_columns_become_recipients_and_substitutions_the_parser_accepts()
    {
        var path = Csv("Email,name,uuid,shop,\"first, name\"\n"
            + "a@example.net,Anna,u1,Example,\"Anna, the first\"\n"
            + "\n"
            + "b@example.net,,,Ünïcode shop,\"quoted \"\"word\"\"\"\n");

        var batch = Assert.Single(Batches(SendRecipients.FromCsv(path), 1000));
        var parsed = new SendRequestParser().Parse(SendRequestJson.Write(Message, batch));

        Assert.True(parsed.IsValid, string.Join("; ", parsed.Errors.Select(e => $"{e.Field}: {e.Message}")));
        var request = parsed.Request!;
        Assert.Equal("news@example.com", request.From.Address);
        Assert.Equal("Hello {{name}}", request.Subject);
        Assert.Equal("<p>Hi {{name}}</p>", request.Html);
        Assert.Equal(Message.SendAt, request.SendAt);
        Assert.Equal(["a@example.net", "b@example.net"], request.Recipients.Select(r => r.Address.Address));
        Assert.Equal("Anna", request.Recipients[0].Address.DisplayName);
        Assert.Null(request.Recipients[1].Address.DisplayName);
        Assert.Equal("u1", request.Recipients[0].Uuid);
        Assert.Null(request.Recipients[1].Uuid);
        Assert.Equal(new Dictionary<string, string> { ["Email"] = "a@example.net", ["name"] = "Anna", ["uuid"] = "u1", ["shop"] = "Example", ["first, name"] = "Anna, the first" },
            request.Recipients[0].Substitutions);
        Assert.Equal(new Dictionary<string, string> { ["Email"] = "b@example.net", ["name"] = "", ["uuid"] = "", ["shop"] = "Ünïcode shop", ["first, name"] = "quoted \"word\"" }, request.Recipients[1].Substitutions);
    }

    [Fact]
    public void A_list_is_cut_into_batches_of_at_most_the_request_limit()
    {
        var limit = new SendRequestLimits().MaxRecipients;
        var recipients = SendRecipients.FromCsv(BigCsv(2 * limit + 500));

        var batches = Batches(recipients, limit);

        Assert.Equal([limit, limit, 500], batches.Select(b => b.Count));
        Assert.Equal(Enumerable.Range(1, 2 * limit + 500).Select(i => $"user{i}@example.net"), batches.SelectMany(b => b).Select(r => r.Email));
        foreach (var batch in batches)
        {
            var parsed = new SendRequestParser().Parse(SendRequestJson.Write(Message, batch));
            Assert.True(parsed.IsValid, string.Join("; ", parsed.Errors.Select(e => $"{e.Field}: {e.Message}")));
            Assert.Equal(batch.Count, parsed.Request!.Recipients.Count);
        }
    }

    [Fact]
    public async Task Every_batch_is_posted_with_basic_auth_and_its_own_stable_idempotency_key()
    {
        await using var api = new SendApiStub((request, _) => StubAnswer.Accept(request));
        var path = BigCsv(2500);

        var (code, output, errors) = await RunAsync(api, SendRecipients.FromCsv(path));
        var (again, _, _) = await RunAsync(api, SendRecipients.FromCsv(path));

        Assert.True(code == 0, errors);
        Assert.Equal(0, again);
        var first = api.Received.Take(3).ToList();
        Assert.Equal(6, api.Received.Count);
        Assert.All(api.Received, r => Assert.Equal("/v1/messages", r.Path));
        Assert.All(api.Received, r => Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("api:secret")), r.Authorization));
        Assert.All(api.Received, r => Assert.StartsWith("application/json", r.ContentType, StringComparison.Ordinal));
        Assert.Equal(3, first.Select(r => r.IdempotencyKey).Distinct().Count());
        Assert.Equal(first.Select(r => r.IdempotencyKey), api.Received.Skip(3).Select(r => r.IdempotencyKey)); // a re-run repeats its keys
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2500, lines.Length);
        Assert.EndsWith("\tuser2500@example.net", lines[^1], StringComparison.Ordinal);
        Assert.Contains("batch 3 of 3: 500 accepted (2500 so far)", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_batch_stops_the_run_and_its_problem_points_at_the_csv_line()
    {
        const string problem = """{"type":"about:blank","title":"Unprocessable Entity","status":422,"detail":"the request has 1 problem","errors":[{"field":"recipients[1].email","message":"not an email address"}]}""";
        await using var api = new SendApiStub((request, n) => n == 0 ? StubAnswer.Accept(request) : new StubAnswer(422, "application/problem+json", problem));
        var path = Csv("email\n" + string.Concat(Enumerable.Range(1, 25).Select(i => $"u{i}@example.net\n")));
        var job = new SendJob(Message, SendRecipients.FromCsv(path), new SendApiClient(new HttpClient(), new Uri(api.BaseUrl, "v1/messages"), "api", "secret"), batchSize: 10);
        using var output = new StringWriter();
        using var errors = new StringWriter();

        var code = await job.RunAsync(output, errors, errorIsTerminal: false, CancellationToken.None);

        Assert.Equal(1, code);
        Assert.Equal(2, api.Received.Count); // the third batch is not tried
        var text = errors.ToString();
        Assert.Contains("Batch 2 of 3 was refused: 422", text, StringComparison.Ordinal);
        Assert.Contains("recipients[1].email (list.csv line 13): not an email address", text, StringComparison.Ordinal);
        Assert.Contains("10 of 25 messages were accepted", text, StringComparison.Ordinal);
        Assert.Equal(10, output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task A_busy_api_is_asked_again_with_the_same_key()
    {
        await using var api = new SendApiStub((request, n) => n == 0
            ? new StubAnswer(503, "application/problem+json", """{"title":"Service Unavailable","status":503}""", RetryAfter: "0")
            : StubAnswer.Accept(request));

        var (code, output, errors) = await RunAsync(api, SendRecipients.FromAddresses(["a@example.net", "b@example.net"]));

        Assert.True(code == 0, errors);
        Assert.Equal(2, api.Received.Count);
        Assert.Equal(api.Received[0].IdempotencyKey, api.Received[1].IdempotencyKey);
        Assert.Equal(2, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task Bad_rows_are_all_reported_and_nothing_is_sent()
    {
        await using var api = new SendApiStub((request, _) => StubAnswer.Accept(request));
        var path = Csv("email,name\na@example.net,A\n,B\nc@example.net,C,extra\nd@example.net,D\n");

        var (code, _, errors) = await RunAsync(api, SendRecipients.FromCsv(path));

        Assert.Equal(2, code);
        Assert.Empty(api.Received);
        Assert.Contains("list.csv: line 3: email: is empty", errors, StringComparison.Ordinal);
        Assert.Contains("list.csv: line 4: 3 fields where the header has 2", errors, StringComparison.Ordinal);
        Assert.Contains("Nothing was sent.", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_csv_without_an_email_column_is_refused()
    {
        await using var api = new SendApiStub((request, _) => StubAnswer.Accept(request));

        var (code, _, errors) = await RunAsync(api, SendRecipients.FromCsv(Csv("mail,name\na@example.net,A\n")));

        Assert.Equal(2, code);
        Assert.Empty(api.Received);
        Assert.Contains("list.csv: line 1: header: has no email column", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_command_line_posts_files_and_addresses_to_the_api()
    {
        await using var api = new SendApiStub((request, _) => StubAnswer.Accept(request));
        var html = Path.Combine(_directory, "body.html");
        await File.WriteAllTextAsync(html, "<p>Hi {{name}}</p>");
        using var output = new StringWriter();
        using var errors = new StringWriter();
        string[] args = ["send", "--from", "news@example.com", "--subject", "Hi", "--html", html, "--to", "a@example.net", "b@example.net",
            "--send-at", "2026-12-24T10:00:00+01:00", "--api", api.BaseUrl.ToString(), "--user", "api", "--password", "secret", "--summary"];

        var code = await MailerCli.Build().Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = errors });

        Assert.True(code == 0, errors.ToString());
        var parsed = new SendRequestParser().Parse(Assert.Single(api.Received).Body);
        Assert.True(parsed.IsValid);
        Assert.Equal("<p>Hi {{name}}</p>", parsed.Request!.Html);
        Assert.Equal(["a@example.net", "b@example.net"], parsed.Request.Recipients.Select(r => r.Address.Address));
        Assert.Equal(new DateTimeOffset(2026, 12, 24, 9, 0, 0, TimeSpan.Zero), parsed.Request.SendAt);
        Assert.Equal("Accepted 2 messages in 1 batches.", output.ToString().Trim());
    }

    [Theory]
    [InlineData(new[] { "--html", "body.html" }, "recipients are required")]
    [InlineData(new[] { "--html", "body.html", "--to", "a@example.net", "--recipients", "list.csv" }, "either --to or --recipients")]
    [InlineData(new[] { "--to", "a@example.net" }, "one of --html, --text or --template is required")]
    [InlineData(new[] { "--text", "missing.txt", "--to", "a@example.net" }, "--text: ")]
    [InlineData(new[] { "--template", "welcome", "--to", "a@example.net", "--send-at", "tomorrow" }, "--send-at: 'tomorrow' is not a date-time")]
    [InlineData(new[] { "--template", "welcome", "--to", "a@example.net", "--api", "ftp://example.com/" }, "--api: 'ftp://example.com/' is not an http or https URL")]
    public async Task Bad_arguments_are_named_and_exit_2(string[] extra, string expected)
    {
        await File.WriteAllTextAsync(Path.Combine(_directory, "body.html"), "<p>x</p>");
        Csv("email\na@example.net\n");
        using var output = new StringWriter();
        using var errors = new StringWriter();
        string[] api = extra.Contains("--api") ? [] : ["--api", "http://127.0.0.1:9/"];
        string[] args = ["send", "--from", "news@example.com", "--subject", "Hi", "--user", "u", "--password", "p", .. api,
            .. extra.Select(a => a.EndsWith(".html", StringComparison.Ordinal) || a.EndsWith(".csv", StringComparison.Ordinal) || a.EndsWith(".txt", StringComparison.Ordinal) ? Path.Combine(_directory, a) : a)];

        var code = await MailerCli.Build().Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = errors });

        Assert.Equal(2, code);
        Assert.Contains(expected, errors.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0.0.0.0:8080", "http://127.0.0.1:8080/v1/messages")]
    [InlineData("[::]:8080", "http://[::1]:8080/v1/messages")]
    [InlineData("192.0.2.5:80", "http://192.0.2.5/v1/messages")]
    public void The_api_defaults_to_the_configured_bind_and_first_login(string bind, string expected)
    {
        var receiver = new Config.HttpReceiverOptions
        {
            Bind = IPEndPoint.Parse(bind),
            MetricsBind = IPEndPoint.Parse("127.0.0.1:9000"),
            Logins = [new Config.Credential("first", "one"), new Config.Credential("second", "two")],
        };

        var target = SendCommand.ApiTarget.Resolve(null, null, "given", () => receiver);

        Assert.Equal(expected, target.MessagesUrl.ToString());
        Assert.Equal("given", target.Password);
        Assert.True(target.User is "first" || Environment.GetEnvironmentVariable(SendCommand.UserVariable) == target.User);
    }

    [Fact]
    public void An_explicit_api_needs_no_configuration()
    {
        var target = SendCommand.ApiTarget.Resolve(new Uri("https://mail.example.com/base/"), "u", "p", () => throw new InvalidOperationException("config loaded"));

        Assert.Equal("https://mail.example.com/base/v1/messages", target.MessagesUrl.ToString());
    }

    [Theory]
    [InlineData(422, """{"title":"Unprocessable Entity","status":422,"detail":"send_at: must be an RFC 3339 date-time","field":"send_at"}""", "422 Unprocessable Entity: send_at: must be an RFC 3339 date-time")]
    [InlineData(422, """{"title":"Unprocessable Entity","status":422,"detail":"html: unknown variable","field":"html","line":7}""", "422 Unprocessable Entity: html: unknown variable (template line 7)")]
    [InlineData(400, """{"title":"Bad Request","errors":{"from":["is required"]}}""", "400 Bad Request\n  from: is required")]
    [InlineData(401, "", "401 Unauthorized")]
    [InlineData(500, "<html>oops</html>", "500 Internal Server Error: <html>oops</html>")]
    public void Problems_are_put_into_words(int status, string body, string expected)
    {
        var text = SendApiClient.DescribeRefusal((HttpStatusCode)status, ((HttpStatusCode)status) switch
        {
            HttpStatusCode.UnprocessableEntity => "Unprocessable Entity",
            HttpStatusCode.BadRequest => "Bad Request",
            HttpStatusCode.InternalServerError => "Internal Server Error",
            _ => "Unauthorized",
        }, Encoding.UTF8.GetBytes(body));

        Assert.Equal(expected, text.ReplaceLineEndings("\n"));
    }

    private static async Task<(int Code, string Output, string Errors)> RunAsync(SendApiStub api, SendRecipients recipients)
    {
        using var http = new HttpClient();
        var job = new SendJob(Message, recipients, new SendApiClient(http, new Uri(api.BaseUrl, "v1/messages"), "api", "secret"), new SendRequestLimits().MaxRecipients);
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await job.RunAsync(output, errors, errorIsTerminal: false, CancellationToken.None);
        return (code, output.ToString(), errors.ToString());
    }
}
