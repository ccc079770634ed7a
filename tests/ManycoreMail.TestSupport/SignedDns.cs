using System.Net;

namespace ManycoreMail.TestSupport;

/// <summary>A DNSSEC-signed test zone served by a private nsd, behind a private unbound that validates it with the
/// zone's own key as trust anchor: answers from the zone carry the AD bit, answers from <c>unsigned</c> zones (served
/// by the same nsd) do not, and tampered records come back SERVFAIL. All on 127.0.0.1.</summary>
/// <remarks>Signed with ldns-signzone (ldnsutils); needs nsd, unbound and ldnsutils (installed by test.sh).</remarks>
public sealed class SignedDns : IDisposable
{
    public const string Nsd = "/usr/sbin/nsd";
    public const string Unbound = "/usr/sbin/unbound";
    private static readonly TimeSpan ReadyDeadline = TimeSpan.FromSeconds(20);

    private readonly string _directory;
    private readonly PeerProcess _nsd;
    private readonly PeerProcess _unbound;

    private SignedDns(string directory, PeerProcess nsd, PeerProcess unbound, IPEndPoint endPoint)
    {
        _directory = directory;
        _nsd = nsd;
        _unbound = unbound;
        EndPoint = endPoint;
    }

    /// <summary>The validating resolver (unbound).</summary>
    public IPEndPoint EndPoint { get; }

    public string Log => $"nsd:{Environment.NewLine}{_nsd.Output}{Environment.NewLine}unbound:{Environment.NewLine}{_unbound.Output}";

    public static bool IsAvailable => File.Exists(Nsd) && File.Exists(Unbound) && File.Exists("/usr/bin/ldns-signzone");

    /// <summary>Serves <paramref name="zone"/> signed with <paramref name="records"/> (zone-file lines relative to the
    /// zone; SOA and NS are added), each of <paramref name="unsigned"/> as is, and returns once unbound answers.
    /// <paramref name="tamper"/> may change the signed zone file's text (to break a signature).</summary>
    public static async Task<SignedDns> StartAsync(string zone, IEnumerable<string> records, IReadOnlyDictionary<string, IEnumerable<string>>? unsigned = null, Func<string, string>? tamper = null)
    {
        var directory = Directory.CreateTempSubdirectory("signeddns-").FullName;
        var zones = new Dictionary<string, string> { [zone] = WriteZone(directory, zone, records) };
        foreach (var (name, lines) in unsigned ?? new Dictionary<string, IEnumerable<string>>())
        {
            zones[name] = WriteZone(directory, name, lines);
        }

        var ksk = (await RunAsync("/usr/bin/ldns-keygen", ["-a", "ECDSAP256SHA256", "-k", zone], directory)).Trim();
        var zsk = (await RunAsync("/usr/bin/ldns-keygen", ["-a", "ECDSAP256SHA256", zone], directory)).Trim();
        await RunAsync("/usr/bin/ldns-signzone", ["-n", zones[zone], ksk, zsk], directory);
        var signedPath = zones[zone] + ".signed";
        if (tamper is not null)
        {
            File.WriteAllText(signedPath, tamper(File.ReadAllText(signedPath)));
        }

        zones[zone] = signedPath;
        var nsdPort = FreePort.UdpAndTcp();
        var unboundPort = FreePort.UdpAndTcp();
        File.WriteAllText(Path.Combine(directory, "nsd.conf"), $"""
            server:
              ip-address: 127.0.0.1
              port: {nsdPort}
              username: ""
              chroot: ""
              zonesdir: "{directory}"
              pidfile: "{directory}/nsd.pid"
              database: ""
              zonelistfile: "{directory}/zone.list"
              xfrdfile: "{directory}/xfrd.state"
              xfrdir: "{directory}"
              server-count: 1
              verbosity: 1
            remote-control:
              control-enable: no
            {string.Concat(zones.Select(z => $"zone:\n  name: \"{z.Key}\"\n  zonefile: \"{z.Value}\"\n"))}
            """);
        File.WriteAllText(Path.Combine(directory, "unbound.conf"), $"""
            server:
              interface: 127.0.0.1
              port: {unboundPort}
              do-daemonize: no
              username: ""
              chroot: ""
              directory: "{directory}"
              pidfile: "{directory}/unbound.pid"
              use-syslog: no
              logfile: ""
              do-not-query-localhost: no
              module-config: "validator iterator"
              trust-anchor-file: "{directory}/{ksk}.key"
              local-zone: "test." nodefault
              access-control: 127.0.0.0/8 allow
              val-log-level: 2
              verbosity: 1
            remote-control:
              control-enable: no
            {string.Concat(zones.Keys.Select(z => $"stub-zone:\n  name: \"{z}\"\n  stub-addr: 127.0.0.1@{nsdPort}\n"))}
            """);
        var nsd = PeerProcess.Start(Nsd, ["-d", "-c", Path.Combine(directory, "nsd.conf")], directory);
        var unbound = PeerProcess.Start(Unbound, ["-d", "-c", Path.Combine(directory, "unbound.conf")], directory);
        var dns = new SignedDns(directory, nsd, unbound, new IPEndPoint(IPAddress.Loopback, unboundPort));
        try
        {
            await Eventually.GetAsync(async () => !nsd.HasExited && !unbound.HasExited && await AnswersAsync(unboundPort, zone) ? new object() : null, ReadyDeadline, "nsd and unbound to answer for " + zone);
            return dns;
        }
        catch (TimeoutException e)
        {
            var log = dns.Log;
            dns.Dispose();
            throw new InvalidOperationException($"{e.Message}{Environment.NewLine}{log}", e);
        }
    }

    public void Dispose()
    {
        _unbound.Dispose();
        _nsd.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // a leftover temp directory is harmless
        }
    }

    private static string WriteZone(string directory, string zone, IEnumerable<string> records)
    {
        var path = Path.Combine(directory, zone + ".zone");
        File.WriteAllLines(path, [
            $"$ORIGIN {zone}.",
            "$TTL 300",
            $"@ SOA ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 300",
            $"@ NS ns.{zone}.",
            "ns A 127.0.0.1",
            .. records,
        ]);
        return path;
    }

    private static async Task<bool> AnswersAsync(int port, string zone)
    {
        try
        {
            var (exitCode, output) = await PeerProcess.RunAsync("/usr/bin/drill", ["-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "@127.0.0.1", "SOA", zone], TimeSpan.FromSeconds(3));
            return exitCode == 0 && output.Contains("NOERROR", StringComparison.Ordinal);
        }
        catch (TimeoutException)
        {
            return false; // not listening yet: drill waits for an answer that will not come
        }
    }

    private static async Task<string> RunAsync(string program, string[] arguments, string directory)
    {
        var (exitCode, output) = await PeerProcess.RunAsync(program, arguments, TimeSpan.FromSeconds(30), workingDirectory: directory);
        return exitCode == 0 ? output : throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({exitCode}): {output}");
    }
}
