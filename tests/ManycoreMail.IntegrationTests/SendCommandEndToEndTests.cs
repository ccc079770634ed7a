using ManycoreMail.TestSupport;
using MimeKit;

namespace ManycoreMail.IntegrationTests;

/// <summary><c>mailer send</c> against a running mailer's real <c>POST /v1/messages</c>: a CSV list arrives at smtp-sink
/// one message per row with that row's substitutions, and running the same command again sends nothing more.</summary>
public sealed class SendCommandEndToEndTests(TestWorld world) : IClassFixture<TestWorld>
{
    [Fact]
    public async Task A_csv_list_is_sent_one_message_per_row_with_its_columns_as_substitutions_and_a_rerun_sends_nothing_again()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        var files = Directory.CreateTempSubdirectory("mailer-send-");
        try
        {
            await SendListTwiceAsync(sink, config, files.FullName);
        }
        finally
        {
            files.Delete(recursive: true);
        }
    }

    private static async Task SendListTwiceAsync(SmtpSink sink, MailerConfig config, string directory)
    {
        var csv = Path.Combine(directory, "list.csv");
        await File.WriteAllTextAsync(csv, "email,name,city\nann@ok.test,Ann,Oslo\nbob@ok.test,Bob,\"Rome, Italy\"\n");
        var html = Path.Combine(directory, "body.html");
        await File.WriteAllTextAsync(html, "<p>Hello {{name}} in {{city}}</p>");
        string[] command = ["send", "--api", $"http://127.0.0.1:{config.HttpPort}", "--user", "admin", "--password", "secret",
            "--from", "News <news@sender.test>", "--subject", "For {{name}}", "--html", html, "--recipients", csv];

        var (code, output, errors) = await AdminTests.CliWithErrorsAsync(command);

        Assert.True(code == 0, errors);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        var sent = await sink.WaitForMessagesAsync(2, TimeSpan.FromSeconds(30));
        foreach (var (email, name, city) in new[] { ("ann@ok.test", "Ann", "Oslo"), ("bob@ok.test", "Bob", "Rome, Italy") })
        {
            using var message = MimeMessage.Load(new MemoryStream(Assert.Single(sent, m => m.Recipients.SequenceEqual([email])).Message));
            Assert.Equal($"For {name}", message.Subject);
            Assert.Equal($"<p>Hello {name} in {city}</p>", message.HtmlBody?.TrimEnd());
            var uuid = Assert.IsType<string>(message.MessageId).Split('@')[0];
            Assert.Contains(lines, l => l.StartsWith(uuid, StringComparison.Ordinal) && l.EndsWith(email, StringComparison.Ordinal));
        }

        // The same command again carries the same Idempotency-Keys: the API answers the first answers and queues nothing.
        var (again, againOutput, againErrors) = await AdminTests.CliWithErrorsAsync(command);
        Assert.True(again == 0, againErrors);
        Assert.Equal(output, againOutput);
        // A marker sent after the re-run: once it is delivered, anything the re-run had queued would be too.
        var (marked, _, markErrors) = await AdminTests.CliWithErrorsAsync([.. command[..^2], "--to", "marker@ok.test"]);
        Assert.True(marked == 0, markErrors);
        await Eventually.GetAsync(() => Task.FromResult(sink.Messages().Any(m => m.Recipients.SequenceEqual(["marker@ok.test"])) ? "" : null),
            TimeSpan.FromSeconds(30), "the marker at smtp-sink");
        Assert.Equal(3, sink.Messages().Count);
    }
}
