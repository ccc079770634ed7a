using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;

namespace ManycoreMail.TestSupport;

/// <summary>
/// A Postfix of a test's own: its configuration, queue and data directories under <see cref="Directory"/> (the
/// system's meta files), its log in a file there, its smtpd on a free loopback port. A test adds main.cf settings and
/// master.cf services to the minimal ones; files those settings name go in <see cref="Directory"/> before
/// <see cref="StartAsync"/>. Stopped (bounded, then aborted) and removed on dispose, even when the test failed.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class PostfixInstance : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);

    private PostfixInstance(string directory, string hostName, IPEndPoint smtp)
    {
        Directory = directory;
        HostName = hostName;
        Smtp = smtp;
    }

    public string Directory { get; }
    public string HostName { get; }
    /// <summary>The smtpd every instance has (more listeners are services a test adds).</summary>
    public IPEndPoint Smtp { get; }
    public string ConfigDirectory => Path.Combine(Directory, "conf");
    private string LogFile => Path.Combine(Directory, "maillog");

    public string Log => File.Exists(LogFile) ? File.ReadAllText(LogFile) : "";

    /// <summary>Makes the directories; nothing runs until <see cref="StartAsync"/>.</summary>
    public static async Task<PostfixInstance> CreateAsync(string parent, string hostName)
    {
        var directory = Path.Combine(parent, "pf-" + Guid.NewGuid().ToString("N")[..8]);
        foreach (var sub in new[] { "conf", "queue", "data" })
        {
            System.IO.Directory.CreateDirectory(Path.Combine(directory, sub));
        }
        // Postfix's daemons run unprivileged: they must get through to the files a test puts here.
        File.SetUnixFileMode(directory, (UnixFileMode)0b111_101_101);
        var instance = new PostfixInstance(directory, hostName, new IPEndPoint(IPAddress.Loopback, FreePort.Tcp()));
        var (code, output) = await PeerProcess.RunAsync("/bin/chown", ["postfix", Path.Combine(directory, "data")], CommandTimeout).ConfigureAwait(false);
        if (code != 0)
        {
            await instance.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException("chown of Postfix's data directory failed: " + output);
        }
        return instance;
    }

    /// <param name="settings">main.cf lines added to the minimal ones (which set no relay policy).</param>
    /// <param name="services">master.cf lines added to the standard services.</param>
    public async Task StartAsync(string settings, string services = "")
    {
        File.WriteAllText(Path.Combine(ConfigDirectory, "main.cf"), $"""
            compatibility_level = 3.6
            queue_directory = {Directory}/queue
            data_directory = {Directory}/data
            meta_directory = /etc/postfix
            maillog_file = {LogFile}
            maillog_file_prefixes = {Directory}
            inet_interfaces = 127.0.0.1
            inet_protocols = ipv4
            myhostname = {HostName}
            mydestination =
            alias_maps =
            alias_database =
            smtp_tls_security_level = none

            """ + settings);
        File.WriteAllText(Path.Combine(ConfigDirectory, "master.cf"), $"""
            {Smtp} inet n - n - - smtpd
            pickup    unix  n       -       n       60      1       pickup
            cleanup   unix  n       -       n       -       0       cleanup
            qmgr      unix  n       -       n       300     1       qmgr
            rewrite   unix  -       -       n       -       -       trivial-rewrite
            bounce    unix  -       -       n       -       0       bounce
            defer     unix  -       -       n       -       0       bounce
            trace     unix  -       -       n       -       0       bounce
            verify    unix  -       -       n       -       1       verify
            flush     unix  n       -       n       1000?   0       flush
            proxymap  unix  -       -       n       -       -       proxymap
            smtp      unix  -       -       n       -       -       smtp
            relay     unix  -       -       n       -       -       smtp
            showq     unix  n       -       n       -       -       showq
            error     unix  -       -       n       -       -       error
            retry     unix  -       -       n       -       -       error
            discard   unix  -       -       n       -       -       discard
            anvil     unix  -       -       n       -       1       anvil
            scache    unix  -       -       n       -       1       scache
            postlog   unix-dgram n  -       n       -       1       postlogd

            """ + services);
        var (code, output) = await PeerProcess.RunAsync("/usr/sbin/postfix", ["-c", ConfigDirectory, "start"], CommandTimeout).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException("postfix start failed: " + output + Log);
        }
        await Eventually.TrueAsync(() => CanConnect(Smtp), TimeSpan.FromSeconds(20), "Postfix's smtpd\n" + Log).ConfigureAwait(false);
    }

    /// <summary>Retry the deferred mail now (postqueue -f), rather than at the next queue run.</summary>
    public async Task FlushAsync()
    {
        var (code, output) = await PeerProcess.RunAsync("/usr/sbin/postqueue", ["-c", ConfigDirectory, "-f"], CommandTimeout).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException("postqueue -f failed: " + output);
        }
    }

    // Asynchronous all the way: the postfix command's output arrives through the socket engine, and a disposal
    // that blocked for it on one of that engine's threads (socket completions may run inline) would wait for ever.
    public async ValueTask DisposeAsync()
    {
        if (File.Exists(Path.Combine(ConfigDirectory, "main.cf")))
        {
            await PostfixAsync("stop").ConfigureAwait(false);
            // The master lets its children finish; wait for it (bounded), then make sure.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (await PostfixAsync("status").ConfigureAwait(false) == 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50).ConfigureAwait(false);
            }
            if (await PostfixAsync("status").ConfigureAwait(false) == 0)
            {
                await PostfixAsync("abort").ConfigureAwait(false);
            }
        }
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // best effort: the test's own directory goes too
        }
    }

    private async Task<int> PostfixAsync(string command) =>
        (await PeerProcess.RunAsync("/usr/sbin/postfix", ["-c", ConfigDirectory, command], CommandTimeout).ConfigureAwait(false)).ExitCode;

    private static bool CanConnect(IPEndPoint endPoint)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(endPoint);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
