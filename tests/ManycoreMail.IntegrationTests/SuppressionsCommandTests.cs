using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ManycoreMail.Cli;
using ManycoreMail.TestSupport;
using Xunit.Abstractions;

namespace ManycoreMail.IntegrationTests;

/// <summary><c>mailer suppressions list|add|remove|import</c>, run in-process on the configuration's store.</summary>
public sealed class SuppressionsCommandTests(TestWorld world, ITestOutputHelper log) : IClassFixture<TestWorld>
{
    [Fact]
    public async Task Add_list_and_remove_an_entry()
    {
        var config = new MailerConfig(world, "http://127.0.0.1:9/").Write();

        var (code, output, errors) = await CliAsync(config, "add", "Jane@Example.com", "--scope", "sender", "--value", "News@Shop.Example", "--reason", "complaint", "--expires", "2999-01-01T00:00:00Z");
        Assert.True(code == 0, errors);
        Assert.Contains("sender:news@shop.example suppression of jane@example.com", output, StringComparison.Ordinal);
        Assert.Equal(0, (await CliAsync(config, "add", "other@example.com")).Code);

        (code, output, errors) = await CliAsync(config, "list", "--email", "JANE@example.com", "--json");
        Assert.True(code == 0, errors);
        var entry = JsonDocument.Parse(Assert.Single(Lines(output))).RootElement;
        Assert.Equal("jane@example.com", entry.GetProperty("email").GetString());
        Assert.Equal("sender", entry.GetProperty("scope").GetString());
        Assert.Equal("news@shop.example", entry.GetProperty("value").GetString());
        Assert.Equal("complaint", entry.GetProperty("reason").GetString());
        Assert.Equal("2999-01-01T00:00:00Z", entry.GetProperty("expires").GetString());

        (code, output, _) = await CliAsync(config, "list");
        var table = Lines(output);
        Assert.Equal(3, table.Length);
        Assert.StartsWith("EMAIL", table[0], StringComparison.Ordinal);
        Assert.Matches(@"^jane@example\.com\s+sender\s+news@shop\.example\s+complaint\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+2999-01-01 00:00:00$", table[1]);
        Assert.Matches(@"^other@example\.com\s+global\s+-\s+manual\s+.*never$", table[2]);

        (code, _, errors) = await CliAsync(config, "remove", "jane@example.com", "--scope", "sender", "--value", "news@shop.example");
        Assert.True(code == 0, errors);
        (code, _, errors) = await CliAsync(config, "remove", "jane@example.com", "--scope", "sender", "--value", "news@shop.example");
        Assert.Equal(1, code);
        Assert.Contains("There is no sender:news@shop.example suppression of jane@example.com", errors, StringComparison.Ordinal);
        Assert.Equal(["other@example.com"], Lines((await CliAsync(config, "list", "--json")).Output).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("email").GetString()));
    }

    [Fact]
    public async Task List_with_tenant_shows_only_that_tenants_entries()
    {
        var config = new MailerConfig(world, "http://127.0.0.1:9/").Write();
        Assert.Equal(0, (await CliAsync(config, "add", "a@example.com", "--scope", "tenant", "--value", "acme")).Code);
        Assert.Equal(0, (await CliAsync(config, "add", "b@example.com", "--scope", "tenant", "--value", "other")).Code);
        Assert.Equal(0, (await CliAsync(config, "add", "c@example.com")).Code);

        var (code, output, errors) = await CliAsync(config, "list", "--tenant", "acme", "--json");

        Assert.True(code == 0, errors);
        var entry = JsonDocument.Parse(Assert.Single(Lines(output))).RootElement;
        Assert.Equal(("a@example.com", "tenant", "acme"),
            (entry.GetProperty("email").GetString(), entry.GetProperty("scope").GetString(), entry.GetProperty("value").GetString()));
        Assert.Equal(3, Lines((await CliAsync(config, "list", "--json")).Output).Length);
    }

    [Theory]
    [InlineData("scope", "add", "a@example.com", "--scope", "planet")]
    [InlineData("value", "add", "a@example.com", "--scope", "domain")]
    [InlineData("reason", "add", "a@example.com", "--reason", "boredom")]
    [InlineData("expires", "add", "a@example.com", "--expires", "soon")]
    [InlineData("email", "add", "not-an-address")]
    [InlineData("email", "list", "--email", "nobody")]
    [InlineData("value", "remove", "a@example.com", "--value", "x")]
    public async Task Bad_arguments_name_their_field_and_exit_2(string field, params string[] args)
    {
        var config = new MailerConfig(world, "http://127.0.0.1:9/").Write();

        var (code, _, errors) = await CliAsync(config, args);

        Assert.Equal(2, code);
        Assert.StartsWith(field + ": ", errors, StringComparison.Ordinal);
        Assert.Empty(Lines((await CliAsync(config, "list", "--json")).Output));
    }

    [Fact]
    public async Task Import_reads_columns_by_name_and_quoted_fields_and_skips_bad_rows_by_line()
    {
        var config = new MailerConfig(world, "http://127.0.0.1:9/").Write();
        var csv = Path.Combine(config.Directory, "list.csv");
        await File.WriteAllTextAsync(csv, """
            Reason,EMAIL,Scope,Value,expires
            unsubscribe,one@example.com,,,
            ,"Two@Example.com",tenant,"Acme, ""the"" company",2999-01-01T00:00:00Z
            ,not-an-address,,,
            complaint,three@example.com,domain,shop.example,
            ,four@example.com,sender
            ,five@example.com,planet,,

            bounce,six@example.com,,,

            """.Replace("\n", "\r\n", StringComparison.Ordinal));

        var (code, output, errors) = await CliAsync(config, "import", csv);

        Assert.Equal(1, code);
        Assert.Equal([
            "line 4: email: 'not-an-address' is not an email address",
            "line 6: 3 fields where the header has 5",
            "line 7: scope: 'planet' is not one of global, tenant, domain, sender",
        ], Lines(errors));
        Assert.Contains("Imported 4 entries from 7 rows", output, StringComparison.Ordinal);
        Assert.Contains("7 rows read (100%), 4 imported, 3 bad", output, StringComparison.Ordinal);
        var entries = Lines((await CliAsync(config, "list", "--json")).Output).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(["one@example.com", "six@example.com", "three@example.com", "two@example.com"], entries.Select(e => e.GetProperty("email").GetString()));
        Assert.Equal(["unsubscribe", "bounce", "complaint", "manual"], entries.Select(e => e.GetProperty("reason").GetString()));
        Assert.Equal("Acme, \"the\" company", entries[3].GetProperty("value").GetString());
        Assert.Equal("tenant", entries[3].GetProperty("scope").GetString());
        Assert.Equal("2999-01-01T00:00:00Z", entries[3].GetProperty("expires").GetString());
    }

    [Fact]
    public async Task Import_without_an_email_column_imports_nothing()
    {
        var config = new MailerConfig(world, "http://127.0.0.1:9/").Write();
        var csv = Path.Combine(config.Directory, "list.csv");
        await File.WriteAllTextAsync(csv, "address,scope\na@example.com,global\n");

        var (code, _, errors) = await CliAsync(config, "import", csv);

        Assert.Equal(2, code);
        Assert.StartsWith("header: unknown column 'address'", errors, StringComparison.Ordinal);
        Assert.Empty(Lines((await CliAsync(config, "list", "--json")).Output));
    }

    [Fact]
    public async Task Import_of_a_hundred_thousand_rows_beside_a_running_mailer_reaches_its_api()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        var csv = Path.Combine(config.Directory, "large.csv");
        var text = new StringBuilder("email,scope,value,reason\n");
        for (var i = 0; i < 100_000; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"user{i:D6}@example.com,{(i % 2 == 0 ? "global," : "domain,shop.example")},unsubscribe\n");
        }
        await File.WriteAllTextAsync(csv, text.ToString());
        await using var mailer = await RunningMailer.StartAsync(config);

        var clock = Stopwatch.StartNew();
        var (code, output, errors) = await CliAsync(config, "import", csv);
        log.WriteLine($"100,000 rows imported in {clock.Elapsed.TotalSeconds:0.00} s: {Lines(output)[^1]}");

        Assert.True(code == 0, errors);
        Assert.Contains("Imported 100000 entries from 100000 rows", output, StringComparison.Ordinal);
        // Plain progress lines (the output is not a terminal), one a batch of 5,000.
        Assert.True(Lines(output).Count(l => l.Contains(" rows read (", StringComparison.Ordinal)) >= 20, output);
        Assert.Contains("100000 rows read (100%), 100000 imported, 0 bad", output, StringComparison.Ordinal);
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{config.HttpPort}/v1/suppressions?email=user099999@example.com");
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:secret")));
        using var response = await http.SendAsync(request);
        var entry = Assert.Single(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("suppressions").EnumerateArray());
        Assert.Equal("shop.example", entry.GetProperty("value").GetString());
        var found = await mailer.Host.Suppressions.FindAsync(Enumerable.Range(0, 1_000).Select(i => $"user{i * 100:D6}@example.com").ToList(), DateTimeOffset.UtcNow, CancellationToken.None);
        Assert.Equal(1_000, found.Count);
    }

    private static async Task<(int Code, string Output, string Errors)> CliAsync(MailerConfig config, params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        string[] all = ["suppressions", .. args, "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile];
        var code = await MailerCli.Build().Parse(all).InvokeAsync(new InvocationConfiguration { Output = output, Error = errors });
        return (code, output.ToString(), errors.ToString());
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
