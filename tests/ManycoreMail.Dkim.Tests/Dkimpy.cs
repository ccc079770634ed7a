using System.Diagnostics;
using System.Security.Cryptography;

namespace ManycoreMail.Dkim.Tests;

/// <summary>Runs dkimpy (the reference verifier we did not write) over a signed message, with a DNS function that
/// answers the selector's TXT record with our public key.</summary>
internal static class Dkimpy
{
    private const string Script = """
        import sys, logging, dkim
        path, key, expected = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
        msg = open(path, 'rb').read()
        def dns(name, timeout=5):
            n = name.decode() if isinstance(name, bytes) else name
            if n.rstrip('.') != expected:
                print('unexpected DNS name ' + n, file=sys.stderr)
                return None
            return b'v=DKIM1; k=rsa; p=' + key
        logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
        ok = dkim.verify(msg, logger=logging.getLogger('dkim'), dnsfunc=dns)
        print('VALID' if ok else 'INVALID')
        sys.exit(0 if ok else 1)
        """;

    public static async Task<(bool Valid, string Output)> VerifyAsync(byte[] signedMessage, RSA key, string domain, string selector)
    {
        var path = Path.Combine(Path.GetTempPath(), $"dkim-{Guid.NewGuid():N}.eml");
        await File.WriteAllBytesAsync(path, signedMessage);
        try
        {
            var publicKey = Convert.ToBase64String(key.ExportSubjectPublicKeyInfo());
            var start = new ProcessStartInfo("/usr/bin/python3")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(Script);
            start.ArgumentList.Add(path);
            start.ArgumentList.Add(publicKey);
            start.ArgumentList.Add($"{selector}._domainkey.{domain}");
            using var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
                var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
                await process.WaitForExitAsync(timeout.Token);
                var output = await stdout + await stderr;
                return (process.ExitCode == 0, output);
            }
            finally
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
