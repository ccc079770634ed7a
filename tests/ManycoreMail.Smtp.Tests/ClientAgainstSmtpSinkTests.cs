using System.Net;
using System.Text;
using ManycoreMail.Smtp.Client;
using ManycoreMail.Smtp.Tests.Support;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Smtp.Tests;

/// <summary>Our client against Postfix's smtp-sink, a server we did not write.</summary>
public sealed class ClientAgainstSmtpSinkTests : IAsyncLifetime
{
    private readonly string _dumpDirectory = Path.Combine(Path.GetTempPath(), "mm-smtp-tests-" + Guid.NewGuid().ToString("N"));
    private ExternalProcess? _sink;
    private IPEndPoint _endPoint = new(IPAddress.Loopback, 0);

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dumpDirectory);
        if (!OperatingSystem.IsWindows())
        {
            // smtp-sink runs as nobody after binding; it must be able to write its dumps.
            File.SetUnixFileMode(_dumpDirectory, (UnixFileMode)0b111_111_111);
        }

        // A port that was free a moment ago may be taken by the time smtp-sink binds: retry on a new one.
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var port = FreePort.Tcp();
            _endPoint = new IPEndPoint(IPAddress.Loopback, port);
            _sink = ExternalProcess.Start("/usr/sbin/smtp-sink", "-u", "nobody", "-d", Path.Combine(_dumpDirectory, "%H%M%S."), $"127.0.0.1:{port}", "10");
            if (await WaitUntilListeningAsync())
            {
                return;
            }

            _sink.Dispose();
        }

        throw new InvalidOperationException("smtp-sink did not start: " + _sink?.Output);
    }

    private async Task<bool> WaitUntilListeningAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline && !_sink!.HasExited)
        {
            try
            {
                using var probe = new System.Net.Sockets.TcpClient();
                await probe.ConnectAsync(_endPoint);
                return true;
            }
            catch (System.Net.Sockets.SocketException)
            {
                await Task.Delay(50);
            }
        }

        return false;
    }

    public Task DisposeAsync()
    {
        _sink?.Dispose();
        try
        {
            Directory.Delete(_dumpDirectory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }

        return Task.CompletedTask;
    }

    [Fact]
    public async Task Messages_arrive_unstuffed_with_the_declared_parameters()
    {
        var options = new SmtpClientOptions { HeloName = "client.test", TlsMode = SmtpTlsMode.Opportunistic, CommandTimeout = TimeSpan.FromSeconds(20) };
        await using var client = await SmtpClientConnection.ConnectAsync(_endPoint, options, CancellationToken.None);
        Assert.True(client.Capabilities.ContainsKey("PIPELINING"));

        var dotted = "Subject: sink dots\r\n\r\n.leading\r\n..double\r\n.\r\nend\r\n"u8.ToArray();
        var eightBit = Encoding.UTF8.GetBytes("Subject: sink 8bit\r\n\r\nÄÖÜ\r\n");
        var first = await client.SendAsync("a@example.com", ["b@example.com", "c@example.com"], dotted, CancellationToken.None);
        var second = await client.SendAsync("a@example.com", ["d@example.com"], eightBit, CancellationToken.None);
        await client.QuitAsync(CancellationToken.None);

        Assert.Equal(250, first.DataReply?.Code);
        Assert.All(first.RecipientReplies, r => Assert.Equal(250, r.Reply.Code));
        Assert.Equal(250, second.DataReply?.Code);

        var dumps = await WaitForDumpsAsync(2);
        var dottedDump = Assert.Single(dumps, d => d.Contains("Subject: sink dots", StringComparison.Ordinal));
        Assert.Contains("\nSubject: sink dots\n\n.leading\n..double\n.\nend\n", dottedDump, StringComparison.Ordinal);
        Assert.Contains("X-Rcpt-Args: <b@example.com>\n", dottedDump, StringComparison.Ordinal);
        Assert.Contains("X-Rcpt-Args: <c@example.com>\n", dottedDump, StringComparison.Ordinal);

        var eightBitDump = Assert.Single(dumps, d => d.Contains("Subject: sink 8bit", StringComparison.Ordinal));
        Assert.Contains("\nÄÖÜ\n", eightBitDump, StringComparison.Ordinal);
        if (client.Capabilities.ContainsKey("8BITMIME"))
        {
            Assert.Contains("BODY=8BITMIME", eightBitDump, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("BODY=8BITMIME", dottedDump, StringComparison.Ordinal);
    }

    private async Task<string[]> WaitForDumpsAsync(int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var dumps = Directory.GetFiles(_dumpDirectory, "*", SearchOption.AllDirectories)
                .Select(f => File.ReadAllText(f, Encoding.UTF8))
                .Where(SmtpSink.IsComplete)
                .ToArray();
            if (dumps.Length >= count)
            {
                return dumps;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"smtp-sink dumped {dumps.Length} of {count} messages. Output:\n{_sink?.Output}");
            }

            await Task.Delay(20);
        }
    }
}
