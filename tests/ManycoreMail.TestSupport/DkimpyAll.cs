using System.Diagnostics;
using System.Text.Json;

namespace ManycoreMail.TestSupport;

/// <summary>dkimpy verifying every DKIM-Signature of a message (its <c>verify</c> checks only the first), keys from
/// a table of TXT records. Ed25519 needs PyNaCl (python3-nacl, which test.sh installs).</summary>
public static class DkimpyAll
{
    private const string Script = """
        import sys, json, logging, dkim
        path, records = sys.argv[1], json.loads(sys.argv[2])
        msg = open(path, 'rb').read()
        def dns(name, timeout=5):
            n = (name.decode() if isinstance(name, bytes) else name).rstrip('.')
            return records.get(n, '').encode() or None
        logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
        d = dkim.DKIM(msg, logger=logging.getLogger('dkim'))
        count = sum(1 for name, _ in d.headers if name.lower() == b'dkim-signature')
        results = [d.verify(idx=i, dnsfunc=dns) for i in range(count)]
        print('signatures', count, results)
        sys.exit(0 if count > 0 and all(results) else 1)
        """;

    public static async Task<(bool Valid, string Output)> VerifyAsync(byte[] message, IReadOnlyDictionary<string, string> records)
    {
        var path = Path.Combine(Path.GetTempPath(), $"dkim-{Guid.NewGuid():N}.eml");
        await File.WriteAllBytesAsync(path, message);
        try
        {
            var start = new ProcessStartInfo("/usr/bin/python3", ["-c", Script, path, JsonSerializer.Serialize(records)])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            return (process.ExitCode == 0, await stdout + await stderr);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
