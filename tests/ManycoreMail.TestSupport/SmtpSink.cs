using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ManycoreMail.TestSupport;

/// <summary>A message as Postfix's smtp-sink dumped it: the envelope it saw and the message (CRLF).</summary>
public sealed record SunkMessage(string File, string ClientAddress, string MailFrom, IReadOnlyList<string> Recipients, byte[] Message)
{
    public string Text => Encoding.UTF8.GetString(Message);
}

/// <summary>
/// Postfix's smtp-sink on a loopback address, dumping every transaction to a file. Extra arguments make it
/// refuse commands (<c>-f rcpt -B "550 5.1.1 ..."</c> for hard, <c>-r rcpt -b "451 ..."</c> for soft).
/// </summary>
public sealed class SmtpSink : IDisposable
{
    private readonly PeerProcess _process;

    private SmtpSink(PeerProcess process, string directory, IPEndPoint endPoint)
    {
        _process = process;
        Directory = directory;
        EndPoint = endPoint;
    }

    public string Directory { get; }
    public IPEndPoint EndPoint { get; }
    public string Output => _process.Output;

    public static async Task<SmtpSink> StartAsync(IPAddress address, int port, params string[] extraArguments)
    {
        var directory = Path.Combine(Path.GetTempPath(), "mm-sink-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        // smtp-sink drops privileges to the user given with -u; that user must be able to write the dumps.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(directory, (UnixFileMode)0b111_111_111);
        }
        var arguments = new List<string> { "-u", "nobody", "-d", Path.Combine(directory, "%H%M%S.") };
        arguments.AddRange(extraArguments);
        arguments.Add($"{address}:{port}");
        arguments.Add("100");
        var process = PeerProcess.Start("/usr/sbin/smtp-sink", arguments);
        var endPoint = new IPEndPoint(address, port);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            if (process.HasExited)
            {
                var output = process.Output;
                process.Dispose();
                throw new InvalidOperationException("smtp-sink exited: " + output);
            }
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(endPoint).ConfigureAwait(false);
                break;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(20).ConfigureAwait(false);
            }
        }
        return new SmtpSink(process, directory, endPoint);
    }

    /// <summary>Every complete dump so far.</summary>
    public IReadOnlyList<SunkMessage> Messages()
    {
        var messages = new List<SunkMessage>();
        foreach (var file in System.IO.Directory.GetFiles(Directory).Order(StringComparer.Ordinal))
        {
            if (TryParse(file) is { } message)
            {
                messages.Add(message);
            }
        }
        return messages;
    }

    public Task<IReadOnlyList<SunkMessage>> WaitForMessagesAsync(int count, TimeSpan timeout) =>
        Eventually.GetAsync(() => Task.FromResult(Messages() is { } all && all.Count >= count ? all : null), timeout, $"{count} message(s) at smtp-sink {EndPoint}");

    public void Dispose()
    {
        _process.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }

    /// <summary>Whether a <c>-d</c> dump holds its whole transaction. smtp-sink writes the dump through a buffer as the
    /// transaction goes, so a large message shows up in pieces cut anywhere; it ends the dump with an empty line once the
    /// client's end-of-data is in (before its 250). Until then the dump is a message still arriving, not a truncated one.</summary>
    public static bool IsComplete(string dump) => dump.EndsWith("\n\n", StringComparison.Ordinal);

    private static SunkMessage? TryParse(string file)
    {
        string text;
        try
        {
            text = File.ReadAllText(file);
        }
        catch (IOException)
        {
            return null;
        }
        if (!IsComplete(text))
        {
            return null;
        }
        var lines = text.Split('\n');
        string client = "", from = "";
        var recipients = new List<string>();
        var index = 0;
        for (; index < lines.Length; index++)
        {
            var line = lines[index];
            if (line.StartsWith("X-Client-Addr: ", StringComparison.Ordinal)) client = line[15..];
            else if (line.StartsWith("X-Client-Proto: ", StringComparison.Ordinal) || line.StartsWith("X-Helo-Args: ", StringComparison.Ordinal)) { }
            else if (line.StartsWith("X-Mail-Args: ", StringComparison.Ordinal)) from = line[13..].Split(' ')[0].Trim('<', '>');
            else if (line.StartsWith("X-Rcpt-Args: ", StringComparison.Ordinal)) recipients.Add(line[13..].Split(' ')[0].Trim('<', '>'));
            else break;
        }
        if (recipients.Count == 0)
        {
            return null;
        }
        // Skip the Received header smtp-sink adds (first field plus its continuation lines).
        if (index < lines.Length && lines[index].StartsWith("Received: ", StringComparison.Ordinal))
        {
            index++;
            while (index < lines.Length && lines[index].Length > 0 && (lines[index][0] == ' ' || lines[index][0] == '\t'))
            {
                index++;
            }
        }
        var body = string.Join("\r\n", lines.Skip(index)).TrimEnd('\r', '\n') + "\r\n";
        return new SunkMessage(file, client, from, recipients, Encoding.UTF8.GetBytes(body));
    }
}
