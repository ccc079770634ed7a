using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>swaks, the SMTP test client, as a real submitting peer.</summary>
public static class Swaks
{
    public static async Task<(int ExitCode, string Output)> SendAsync(System.Net.IPEndPoint server, string data, params string[] options)
    {
        var file = Path.Combine(Path.GetTempPath(), "mm-swaks-" + Guid.NewGuid().ToString("N") + ".eml");
        await File.WriteAllTextAsync(file, data);
        try
        {
            var arguments = new List<string>
            {
                "--server", server.ToString(), "--from", "client@submitter.test", "--to", "envelope-ignored@ok.test",
                "--data", "@" + file, "--timeout", "30", "--helo", "client.test",
            };
            arguments.AddRange(options);
            return await PeerProcess.RunAsync("/usr/bin/swaks", arguments, TimeSpan.FromSeconds(60));
        }
        finally
        {
            File.Delete(file);
        }
    }

    public static readonly string[] TlsAuth = ["--tls", "--auth", "PLAIN", "--auth-user", "apa", "--auth-password", "banan"];
}
