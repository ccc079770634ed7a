using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace ManycoreMail.TestSupport;

/// <summary>
/// A private PostgreSQL cluster: initdb in a temporary directory (trust authentication, superuser <c>postgres</c>,
/// UTF8), served on 127.0.0.1 and a free port with its unix socket inside that directory. <c>fsync</c> stays on, so
/// what a test sees committed survives <see cref="RestartAsync"/> as it would survive a real one. Dispose stops it
/// (immediate mode) and deletes the directory.
/// </summary>
/// <remarks>
/// initdb and postgres refuse to run as root; when the tests do (CI), the cluster's programs run as the
/// <c>postgres</c> account the Debian package creates, which then owns the directory.
/// </remarks>
public sealed partial class PostgresServer : IDisposable
{
    private const string ServiceAccount = "postgres";
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(90);
    private readonly string _binaries;
    private readonly bool _asServiceAccount;

    private PostgresServer(string binaries, bool asServiceAccount)
    {
        _binaries = binaries;
        _asServiceAccount = asServiceAccount;
        Directory = Path.Combine(Path.GetTempPath(), "mm-pg-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Host => "127.0.0.1";

    public int Port { get; private set; }

    /// <summary>The temporary directory: the cluster in <c>data</c>, the unix socket and the server log beside it.</summary>
    public string Directory { get; }

    private string DataDirectory => Path.Combine(Directory, "data");

    private string PidFile => Path.Combine(DataDirectory, "postmaster.pid");

    private string LogFile => Path.Combine(Directory, "server.log");

    /// <summary>The <c>postgres</c> database as its superuser (no password: the cluster trusts every local client).</summary>
    public string ConnectionString => ConnectionStringFor("postgres");

    /// <summary>The server log, for failure messages.</summary>
    public string Log
    {
        get
        {
            try
            {
                return File.ReadAllText(LogFile);
            }
            catch (IOException)
            {
                return "";
            }
        }
    }

    /// <summary>Creates and starts a cluster; waits until it accepts connections.</summary>
    public static async Task<PostgresServer> StartAsync()
    {
        var server = new PostgresServer(FindBinaries(), string.Equals(Environment.UserName, "root", StringComparison.Ordinal));
        try
        {
            await server.InitializeClusterAsync().ConfigureAwait(false);
            for (var attempt = 0; attempt < 5; attempt++)
            {
                server.Port = FreePort.Tcp();
                if (await server.TryStartAsync().ConfigureAwait(false))
                {
                    return server;
                }
            }

            throw new InvalidOperationException("postgres did not start: " + server.Log);
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>Creates an empty database and returns a connection string for it.</summary>
    /// <param name="name">Letters, digits and underscores, starting with a letter (it is not quoted).</param>
    public async Task<string> CreateDatabaseAsync(string name)
    {
        if (!DatabaseName().IsMatch(name))
        {
            throw new ArgumentException($"'{name}' is not a plain database name.", nameof(name));
        }

        EnsureSucceeded("createdb", await PeerProcess.RunAsync(
            Path.Combine(_binaries, "createdb"),
            ["-h", Host, "-p", PortText, "-U", ServiceAccount, "-E", "UTF8", "-T", "template0", name],
            CommandTimeout).ConfigureAwait(false));

        return ConnectionStringFor(name);
    }

    /// <summary>Stops the server (fast mode: sessions are ended, everything committed is kept) and starts it again on
    /// the same data and port.</summary>
    public async Task RestartAsync()
    {
        await StopAsync("fast").ConfigureAwait(false);
        // The port was just ours; a moment may pass before the kernel lets it be bound again.
        for (var attempt = 0; attempt < 20; attempt++)
        {
            if (await TryStartAsync().ConfigureAwait(false))
            {
                return;
            }
        }

        throw new InvalidOperationException("postgres did not restart: " + Log);
    }

    public void Dispose()
    {
        try
        {
            // Immediate: the data is thrown away next, so there is nothing to shut down cleanly for. Synchronously,
            // not by blocking on StopAsync: a test's code may run on the socket engine's thread (inline
            // completions), which would then never see pg_ctl's output arrive.
            if (File.Exists(PidFile))
            {
                RunToEnd(Command(Path.Combine(_binaries, "pg_ctl"), StopArguments("immediate")));
            }
        }
        finally
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // best effort
            }
        }
    }

    private string PortText => Port.ToString(CultureInfo.InvariantCulture);

    private string ConnectionStringFor(string database) =>
        $"Host={Host};Port={PortText};Username={ServiceAccount};Database={database}";

    private async Task InitializeClusterAsync()
    {
        if (_asServiceAccount)
        {
            EnsureSucceeded("chown", await PeerProcess.RunAsync("chown", [ServiceAccount + ":", Directory], CommandTimeout).ConfigureAwait(false));
        }

        EnsureSucceeded("initdb", await RunAsync(Path.Combine(_binaries, "initdb"), [
            "-D", DataDirectory, "-U", ServiceAccount, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions",
        ]).ConfigureAwait(false));
        // Settings every start shares; the port goes on the command line, since a retry picks another. The cluster
        // is small and short-lived: a few MB of buffers, no autovacuum noise in the log.
        var settings = new StringBuilder()
            .AppendLine("listen_addresses = '127.0.0.1'")
            .Append("unix_socket_directories = '").Append(Directory).AppendLine("'")
            .AppendLine("shared_buffers = 16MB")
            .AppendLine("max_connections = 200")
            .AppendLine("fsync = on")
            .AppendLine("log_min_messages = warning")
            .ToString();
        // Appending (as root too) keeps the file's owner.
        await File.AppendAllTextAsync(Path.Combine(DataDirectory, "postgresql.conf"), settings).ConfigureAwait(false);
    }

    private async Task<bool> TryStartAsync()
    {
        var (exitCode, _) = await RunAsync(Path.Combine(_binaries, "pg_ctl"), [
            "start", "-w", "-t", "60", "-D", DataDirectory, "-l", LogFile, "-o", "-p " + PortText,
        ]).ConfigureAwait(false);
        if (exitCode != 0)
        {
            // A postmaster that failed to bind may still be going down; make sure none is left before a retry.
            await StopAsync("immediate").ConfigureAwait(false);
        }

        return exitCode == 0;
    }

    private async Task StopAsync(string mode)
    {
        if (File.Exists(PidFile))
        {
            await RunAsync(Path.Combine(_binaries, "pg_ctl"), StopArguments(mode)).ConfigureAwait(false);
        }
    }

    private string[] StopArguments(string mode) => ["stop", "-w", "-t", "60", "-m", mode, "-D", DataDirectory];

    /// <summary>Runs one of the cluster's programs, as the service account when the tests run as root.</summary>
    private Task<(int ExitCode, string Output)> RunAsync(string executable, string[] arguments)
    {
        var (program, all) = Command(executable, arguments);
        return PeerProcess.RunAsync(program, all, CommandTimeout);
    }

    private (string Program, string[] Arguments) Command(string executable, string[] arguments) =>
        _asServiceAccount ? ("runuser", ["-u", ServiceAccount, "--", executable, .. arguments]) : (executable, arguments);

    private static void RunToEnd((string Program, string[] Arguments) command)
    {
        var info = new ProcessStartInfo(command.Program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in command.Arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start " + command.Program);
        // pg_ctl writes a line or two, far less than a pipe holds, so it cannot block on output nobody reads.
        if (!process.WaitForExit(CommandTimeout))
        {
            process.Kill(entireProcessTree: true);
        }
    }

    private static void EnsureSucceeded(string program, (int ExitCode, string Output) result)
    {
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} failed ({result.ExitCode}): {result.Output}");
        }
    }

    /// <summary>The newest version's programs under /usr/lib/postgresql (Debian keeps each major version apart), else
    /// wherever initdb is on the PATH.</summary>
    private static string FindBinaries()
    {
        const string Debian = "/usr/lib/postgresql";
        if (System.IO.Directory.Exists(Debian))
        {
            var newest = System.IO.Directory.EnumerateDirectories(Debian)
                .Select(directory => (Directory: Path.Combine(directory, "bin"), Version: int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var major) ? major : -1))
                .Where(candidate => candidate.Version >= 0 && File.Exists(Path.Combine(candidate.Directory, "initdb")))
                .OrderByDescending(candidate => candidate.Version)
                .FirstOrDefault();
            if (newest.Directory is not null)
            {
                return newest.Directory;
            }
        }

        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var initdb = new FileInfo(Path.Combine(directory, "initdb"));
            if (initdb.Exists)
            {
                // A link (/usr/local/bin/initdb) points into the directory that holds pg_ctl and createdb as well.
                var target = initdb.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? initdb;
                return target.DirectoryName!;
            }
        }

        throw new InvalidOperationException("PostgreSQL is not installed (no initdb under /usr/lib/postgresql or on the PATH); test.sh installs it.");
    }

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]{0,62}$")]
    private static partial Regex DatabaseName();
}
