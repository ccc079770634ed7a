using System.Text.Json;
using ManycoreMail.Roles.MxServer;

namespace ManycoreMail.Tests.MxServer;

public sealed class ClassifyCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("classify-command-").FullName;

    [Fact]
    public void A_file_that_cannot_be_read_gets_an_error_line_and_the_next_file_is_still_classified()
    {
        var missing = Path.Combine(_directory, "missing.eml");
        var unreadable = "bad\0name.eml";
        var utf7 = Path.Combine(_directory, "utf7.eml");
        File.WriteAllText(utf7, "From: MAILER-DAEMON@mx.ok.test\r\nSubject: =?UTF-7?Q?Undelivered_Mail+ACE-?=\r\n\r\n"
            + "I'm sorry to have to inform you that your message could not be delivered to <gone@ok.test>.\r\n550 5.1.1 User unknown\r\n");
        using var output = new StringWriter();
        using var errors = new StringWriter();

        var exitCode = ClassifyCommand.Run([missing, unreadable, utf7], output, errors);

        Assert.Equal(1, exitCode);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement).ToList();
        Assert.Equal(3, lines.Count);
        Assert.Equal([missing, unreadable, utf7], lines.Select(line => line.GetProperty("file").GetString()));
        Assert.Contains("missing.eml", lines[0].GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(lines[1].GetProperty("error").GetString()));
        Assert.False(lines[2].TryGetProperty("error", out _));
        Assert.Equal(("bounce", "gone@ok.test"), (lines[2].GetProperty("kind").GetString(), lines[2].GetProperty("recipient").GetString()));
        Assert.Contains(missing, errors.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Exit_code_is_zero_when_every_file_is_classified()
    {
        var mail = Path.Combine(_directory, "hello.eml");
        File.WriteAllText(mail, "From: a@b.test\r\nSubject: hello\r\n\r\nhi\r\n");
        using var output = new StringWriter();

        Assert.Equal(0, ClassifyCommand.Run([mail], output, TextWriter.Null));
        Assert.Equal("other", JsonDocument.Parse(output.ToString()).RootElement.GetProperty("kind").GetString());
    }

    [Fact]
    public void A_folder_stands_for_every_file_under_it_in_name_order()
    {
        var folder = Directory.CreateDirectory(Path.Combine(_directory, "maildir", "cur")).FullName;
        File.WriteAllText(Path.Combine(folder, "2"), "From: a@b.test\r\nSubject: two\r\n\r\nhi\r\n");
        File.WriteAllText(Path.Combine(folder, "1"), "From: a@b.test\r\nSubject: one\r\n\r\nhi\r\n");
        using var output = new StringWriter();

        Assert.Equal(0, ClassifyCommand.Run([Path.Combine(_directory, "maildir")], output, TextWriter.Null));
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement);
        Assert.Equal([Path.Combine(folder, "1"), Path.Combine(folder, "2")], lines.Select(line => line.GetProperty("file").GetString()));
    }

    [Fact]
    public void Progress_is_a_bar_on_a_terminal_and_a_plain_line_per_tenth_when_redirected()
    {
        for (var i = 0; i < 20; i++)
        {
            File.WriteAllText(Path.Combine(_directory, $"{i:D2}.eml"), "From: a@b.test\r\nSubject: hello\r\n\r\nhi\r\n");
        }
        using var redirected = new StringWriter();
        using var terminal = new StringWriter();

        ClassifyCommand.Run([_directory], TextWriter.Null, redirected, new ClassifyProgress(redirected, terminal: false));
        ClassifyCommand.Run([_directory], TextWriter.Null, terminal, new ClassifyProgress(terminal, terminal: true));

        var lines = redirected.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(10, lines.Length);
        Assert.All(lines, line => Assert.StartsWith("classify: ", line, StringComparison.Ordinal));
        Assert.StartsWith("classify: 2/20 mails (10%)", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("classify: 20/20 mails (100%)", lines[^1], StringComparison.Ordinal);
        Assert.DoesNotContain('\r', redirected.ToString());
        Assert.StartsWith("\r[", terminal.ToString(), StringComparison.Ordinal);
        Assert.Contains("\r[" + new string('#', 30) + "] 20/20 mails", terminal.ToString(), StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
