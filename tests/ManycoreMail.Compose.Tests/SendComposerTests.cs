using System.Text;
using ManycoreMail.Config;
using ManycoreMail.Hosting;
using ManycoreMail.Sending;
using ManycoreMail.Templates;
using MimeKit;

namespace ManycoreMail.Compose.Tests;

/// <summary>The held-send side of the JSON API: a held request composed at its time, with the template as it is then.</summary>
public sealed class SendComposerTests : IAsyncDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("mm-sendcomposer-");
    private readonly TemplateStores _templates;
    private readonly SendComposer _composer;

    public SendComposerTests()
    {
        _templates = new TemplateStores(new MailerOptions
        {
            Queues = new QueueNames("P0", "P1", "OUT", "EVENTS"),
            Storage = new StorageOptions(_directory.FullName),
            Redis = new RedisOptions("localhost", 6379),
            Sender = new SenderOptions { HeloName = "mailer.test" },
            MetricsBinds = [],
            ReturnPathDomains = [],
        });
        _composer = new SendComposer(_templates, new TemplateRenderer(), new MessageComposer(TimeProvider.System), new SendRequestParser());
    }

    public async ValueTask DisposeAsync()
    {
        await _templates.DisposeAsync();
        _directory.Delete(recursive: true);
    }

    private async Task PutAsync(string name, TemplateContent content) =>
        await (await _templates.GetAsync(default)).PutAsync(name, content, default);

    private async Task<HeldSendOutcome> ComposeAsync(string json) => await _composer.ComposeAsync(Encoding.UTF8.GetBytes(json), default);

    private static MimeMessage Read(HeldSendOutcome outcome) =>
        MimeMessage.Load(new MemoryStream(Assert.IsType<HeldSendOutcome.Composed>(outcome).Message.ToArray()));

    private const string Held = """
        {"from": "news@example.com", "template": "TEMPLATE", "priority": 0, "campaign": "spring", "tenant": "acme",
         "substitutions": {"shop": "Example", "name": "everyone"},
         "recipients": [{"email": "a@example.net", "uuid": "held1", "substitutions": {"name": "Ann"}}]}
        """;

    [Fact]
    public async Task A_held_request_is_composed_with_the_latest_template_at_its_time_and_keeps_its_uuid()
    {
        await PutAsync("news", new TemplateContent("Hi {{name}}", "v1 {{name}} at {{shop}}", null));
        var before = Read(await ComposeAsync(Held.Replace("TEMPLATE", "news", StringComparison.Ordinal)));
        await PutAsync("news", new TemplateContent("Hello {{name}}", "v2 {{name}} at {{shop}}", "<p>{{name}}</p>"));

        var outcome = await ComposeAsync(Held.Replace("TEMPLATE", "news", StringComparison.Ordinal));

        Assert.True(Assert.IsType<HeldSendOutcome.Composed>(outcome).IsPrimary);
        var after = Read(outcome);
        Assert.Equal("v1 Ann at Example", before.TextBody?.TrimEnd());
        Assert.Equal("v2 Ann at Example", after.TextBody?.TrimEnd());
        Assert.Equal("<p>Ann</p>", after.HtmlBody?.TrimEnd());
        Assert.Equal("Hello Ann", after.Subject);
        Assert.Equal("held1", after.Headers["X-Uuid"]);
        Assert.Equal("spring", after.Headers["X-Stream-Id"]);
        Assert.Equal("acme", after.Headers["X-Tenant"]);
    }

    [Fact]
    public async Task A_pinned_version_is_used_and_the_request_parts_override_the_template()
    {
        await PutAsync("news", new TemplateContent("one", "first", null));
        await PutAsync("news", new TemplateContent("two", "second", null));

        var message = Read(await ComposeAsync(Held.Replace("\"template\": \"TEMPLATE\"", "\"template\": \"news@1\", \"subject\": \"Own {{name}}\"", StringComparison.Ordinal)));

        Assert.Equal("Own Ann", message.Subject);
        Assert.Equal("first", message.TextBody?.TrimEnd());
    }

    [Fact]
    public async Task A_deleted_template_a_strict_miss_or_an_unreadable_request_fails_with_the_reason()
    {
        await PutAsync("strict", new TemplateContent(null, "Hi\n{{nobody}}", null));
        await PutAsync("gone", new TemplateContent(null, "x", null));
        await (await _templates.GetAsync(default)).DeleteAsync("gone", default);

        var deleted = Assert.IsType<HeldSendOutcome.Failed>(await ComposeAsync(Held.Replace("TEMPLATE", "gone", StringComparison.Ordinal)));
        var strict = Assert.IsType<HeldSendOutcome.Failed>(await ComposeAsync(Held.Replace("TEMPLATE", "strict", StringComparison.Ordinal).Replace("\"priority\"", "\"strict\": true, \"priority\"", StringComparison.Ordinal)));
        var unreadable = Assert.IsType<HeldSendOutcome.Failed>(await ComposeAsync("{\"from\": 1}"));

        Assert.Contains("there is no template 'gone'", deleted.Reason, StringComparison.Ordinal);
        Assert.Contains("text: line 2", strict.Reason, StringComparison.Ordinal);
        Assert.Contains("nobody", strict.Reason, StringComparison.Ordinal);
        Assert.Contains("from", unreadable.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_strict_a_missing_variable_renders_empty()
    {
        await PutAsync("lenient", new TemplateContent(null, "[{{nobody}}]", null));

        Assert.Equal("[]", Read(await ComposeAsync(Held.Replace("TEMPLATE", "lenient", StringComparison.Ordinal))).TextBody?.TrimEnd());
    }

    [Fact]
    public async Task A_malformed_template_reference_is_an_error_naming_template()
    {
        var request = new SendRequestParser().Parse("""{"from": "n@example.com", "template": "bad name", "recipients": [{"email": "a@example.net"}]}"""u8).Request!;

        var content = await _composer.ResolveAsync(request, default);

        Assert.Null(content.Parts);
        Assert.Equal("template", content.Error!.Field);
    }
}
