using System.Net.Sockets;
using System.Text;

namespace ManycoreMail.TestSupport;

/// <summary>
/// A real redis-server on 127.0.0.1 and a free port, with its data in a temporary directory and AOF with
/// <c>appendfsync always</c> (every acknowledged write is on disk). It can be killed and started again on
/// the same port and data, for outage tests. Dispose kills it and deletes the directory.
/// </summary>
public sealed class RedisServer : IDisposable
{
    private const string Executable = "/usr/bin/redis-server";
    private readonly string[] _extraArguments;
    private PeerProcess? _process;

    private RedisServer(string[] extraArguments)
    {
        _extraArguments = extraArguments;
        Directory = Path.Combine(Path.GetTempPath(), "mm-redis-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Host => "127.0.0.1";

    public int Port { get; private set; }

    /// <summary>Where the server keeps its AOF files.</summary>
    public string Directory { get; }

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Output of the current (or last) server process, for failure messages.</summary>
    public string Output => _process?.Output ?? "";

    /// <summary>Starts a server and waits until it answers PING. <paramref name="extraArguments"/> are passed
    /// as further command-line options, e.g. <c>--requirepass secret</c>.</summary>
    public static async Task<RedisServer> StartAsync(params string[] extraArguments)
    {
        var server = new RedisServer(extraArguments);
        try
        {
            for (var attempt = 0; attempt < 5; attempt++)
            {
                server.Port = FreePort.Tcp();
                if (await server.TryStartAsync().ConfigureAwait(false))
                {
                    return server;
                }
            }
            throw new InvalidOperationException("redis-server did not start: " + server.Output);
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>SIGKILL: no shutdown save, no goodbye; only what is in the AOF survives.</summary>
    public void Kill()
    {
        _process?.Dispose();
        _process = null;
    }

    /// <summary>Starts the server again on the same port and data directory.</summary>
    public async Task RestartAsync()
    {
        Kill();
        // The port was just ours; a moment may pass before the kernel lets it be bound again.
        for (var attempt = 0; attempt < 20; attempt++)
        {
            if (await TryStartAsync().ConfigureAwait(false))
            {
                return;
            }
        }
        throw new InvalidOperationException("redis-server did not restart: " + Output);
    }

    public void Dispose()
    {
        Kill();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }

    private async Task<bool> TryStartAsync()
    {
        string[] arguments =
        [
            "--bind", Host, "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--dir", Directory, "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--protected-mode", "no", "--daemonize", "no", "--logfile", "",
            .. _extraArguments,
        ];
        _process = PeerProcess.Start(Executable, arguments, Directory);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        var pause = TimeSpan.FromMilliseconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                return false;
            }
            if (await AnswersPingAsync().ConfigureAwait(false))
            {
                return true;
            }
            await Task.Delay(pause).ConfigureAwait(false);
            pause = TimeSpan.FromMilliseconds(Math.Min(pause.TotalMilliseconds * 2, 100));
        }
        Kill();
        return false;
    }

    private async Task<bool> AnswersPingAsync()
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await client.ConnectAsync(Host, Port, timeout.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), timeout.Token).ConfigureAwait(false);
            var buffer = new byte[64];
            var read = await stream.ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
            var answer = Encoding.ASCII.GetString(buffer, 0, read);
            // +PONG, or -NOAUTH when a password is set: either way the server is up and loaded.
            return answer.StartsWith("+PONG", StringComparison.Ordinal) || answer.StartsWith("-NOAUTH", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }
}
