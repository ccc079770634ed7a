using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ManycoreMail.TestSupport;

/// <summary>A private dnsmasq on 127.0.0.1 serving the records in its config lines, for tests that need a real DNS
/// server. Every name under .test that the config does not define answers NXDOMAIN; nothing is forwarded.</summary>
/// <example><code>
/// using var dns = Dnsmasq.Start([
///     "mx-host=example.test,mx1.example.test,10",
///     "host-record=mx1.example.test,127.0.0.2",
///     "mx-host=nullmx.test,.,0",
/// ]);
/// var options = DnsResolverOptions.FromServers([dns.EndPoint.ToString()]);
/// </code></example>
public sealed class Dnsmasq : IDisposable
{
    public const string Executable = "/usr/sbin/dnsmasq";

    private const int StartAttempts = 5;

    /// <summary>dnsmasq's exit code for a bad configuration (2 is a network problem such as a taken port).</summary>
    private const int ConfigErrorExitCode = 1;
    private static readonly TimeSpan ReadyDeadline = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromMilliseconds(200);

    private readonly Process _process;
    private readonly string _directory;
    private readonly StringBuilder _output;

    private Dnsmasq(Process process, string directory, StringBuilder output, IPEndPoint endPoint)
    {
        _process = process;
        _directory = directory;
        _output = output;
        EndPoint = endPoint;
    }

    /// <summary>Where it answers, over UDP and TCP.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>What it printed and its query log so far (every query and how it was answered), for test failure
    /// messages.</summary>
    public string Log
    {
        get
        {
            string printed;
            lock (_output)
            {
                printed = _output.ToString();
            }

            try
            {
                using var stream = new FileStream(Path.Combine(_directory, "dnsmasq.log"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                using var reader = new StreamReader(stream);
                return printed + reader.ReadToEnd();
            }
            catch (IOException)
            {
                return printed;
            }
        }
    }

    /// <summary>Starts dnsmasq with the given lines (dnsmasq.conf syntax, e.g. <c>txt-record=name,"text"</c>) and
    /// returns once it answers queries. Records get a TTL of 300 s unless the lines set <c>local-ttl</c>.</summary>
    /// <exception cref="ArgumentException">dnsmasq rejected a config line; the message holds its complaint.</exception>
    /// <exception cref="InvalidOperationException">It did not come up; the message holds its output.</exception>
    public static Dnsmasq Start(IEnumerable<string> configLines)
    {
        ArgumentNullException.ThrowIfNull(configLines);
        var lines = configLines.ToList();
        var failures = new StringBuilder();
        for (var attempt = 0; attempt < StartAttempts; attempt++)
        {
            var directory = Directory.CreateTempSubdirectory("dnsmasq-").FullName;
            var port = FreePort.UdpAndTcp();
            Process? process = null;
            var output = new StringBuilder();
            try
            {
                var configPath = Path.Combine(directory, "dnsmasq.conf");
                File.WriteAllLines(configPath, BuildConfig(lines));
                process = Launch(configPath, directory, port, output);
                var endPoint = new IPEndPoint(IPAddress.Loopback, port);
                if (WaitUntilAnswering(process, endPoint))
                {
                    return new Dnsmasq(process, directory, output, endPoint);
                }

                if (process.HasExited && process.ExitCode == ConfigErrorExitCode)
                {
                    process.WaitForExit(); // let the output readers finish
                    lock (output)
                    {
                        // dnsmasq names only the line number, so show the numbered config with its complaint.
                        var numbered = File.ReadLines(configPath).Select((line, i) => $"{i + 1,4}: {line}");
                        throw new ArgumentException(
                            $"dnsmasq rejected its configuration: {output.ToString().Trim()}{Environment.NewLine}{string.Join(Environment.NewLine, numbered)}",
                            nameof(configLines));
                    }
                }

                lock (output)
                {
                    failures.AppendLine($"attempt {attempt + 1} on port {port}: {(process.HasExited ? $"exited with {process.ExitCode}" : "no answer within the deadline")}: {output}");
                }
            }
            catch
            {
                Stop(process, directory);
                throw;
            }

            Stop(process, directory);
        }

        throw new InvalidOperationException($"dnsmasq did not start:{Environment.NewLine}{failures}");
    }

    public void Dispose() => Stop(_process, _directory);

    private static IEnumerable<string> BuildConfig(List<string> lines)
    {
        // Answer unknown .test names NXDOMAIN from here instead of trying (nonexistent) upstream servers.
        yield return "local=/test/";
        if (!lines.Any(l => l.TrimStart().StartsWith("local-ttl", StringComparison.Ordinal)))
        {
            // dnsmasq's default TTL for its own records is 0, which would make caching untestable.
            yield return "local-ttl=300";
        }

        foreach (var line in lines)
        {
            if (line.Contains('\n', StringComparison.Ordinal))
            {
                throw new ArgumentException($"A config line holds a line break: '{line}'.", nameof(lines));
            }

            yield return line;
        }
    }

    private static Process Launch(string configPath, string directory, int port, StringBuilder output)
    {
        var startInfo = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[]
        {
            "--keep-in-foreground",
            $"--conf-file={configPath}",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            $"--port={port}",
            "--user=root",
            "--pid-file", // no pid file: several instances run at once
            $"--log-facility={Path.Combine(directory, "dnsmasq.log")}",
            "--log-queries",
        })
        {
            startInfo.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = startInfo };
        DataReceivedEventHandler append = (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (output)
                {
                    output.AppendLine(e.Data);
                }
            }
        };
        process.OutputDataReceived += append;
        process.ErrorDataReceived += append;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Polls with a real query until any matching answer comes back, the process dies, or the deadline.</summary>
    private static bool WaitUntilAnswering(Process process, IPEndPoint endPoint)
    {
        var deadline = Stopwatch.StartNew();
        var query = new byte[64];
        var response = new byte[512];
        for (ushort id = 1; deadline.Elapsed < ReadyDeadline && !process.HasExited; id++)
        {
            var length = WriteProbe(query, id);
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.ReceiveTimeout = (int)ProbeTimeout.TotalMilliseconds;
            try
            {
                socket.Connect(endPoint);
                socket.Send(query.AsSpan(0, length));
                var received = socket.Receive(response);
                if (received >= 12 && BinaryPrimitives.ReadUInt16BigEndian(response) == id && (response[2] & 0x80) != 0)
                {
                    return true;
                }
            }
            catch (SocketException)
            {
                // Not listening yet (port unreachable) or no answer within the probe timeout: ask again.
                if (!process.HasExited)
                {
                    process.WaitForExit(TimeSpan.FromMilliseconds(20));
                }
            }
        }

        return false;
    }

    /// <summary>A query for "ready.probe.test" A, which the config answers NXDOMAIN.</summary>
    private static int WriteProbe(Span<byte> buffer, ushort id)
    {
        ReadOnlySpan<byte> header = [0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        ReadOnlySpan<byte> question = [5, (byte)'r', (byte)'e', (byte)'a', (byte)'d', (byte)'y', 5, (byte)'p', (byte)'r', (byte)'o', (byte)'b', (byte)'e', 4, (byte)'t', (byte)'e', (byte)'s', (byte)'t', 0, 0, 1, 0, 1];
        header.CopyTo(buffer);
        BinaryPrimitives.WriteUInt16BigEndian(buffer, id);
        question.CopyTo(buffer[header.Length..]);
        return header.Length + question.Length;
    }

    private static void Stop(Process? process, string directory)
    {
        if (process is not null)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }

                process.WaitForExit(TimeSpan.FromSeconds(5));
            }
            catch (InvalidOperationException)
            {
                // never started, or already reaped
            }

            process.Dispose();
        }

        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // a leftover temp directory is harmless
        }
    }
}
