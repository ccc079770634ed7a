using System.Text.RegularExpressions;
using ManycoreMail.Hosting;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.Tests;

/// <summary>Keys the mailer generates are its owner's alone from the first byte: created 0600, never chmod-ed after
/// being written (strace shows what the process asked the kernel for).</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed partial class PrivateKeyFileTests : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "mm-keys-" + Guid.NewGuid().ToString("N"));

    public PrivateKeyFileTests() => Directory.CreateDirectory(_directory);

    [Fact]
    public async Task The_generated_dkim_key_is_created_0600_before_any_byte_is_written()
    {
        var trace = Path.Combine(_directory, "trace.txt");
        var mailer = Path.Combine(AppContext.BaseDirectory, "mailer.dll");
        // check-config without configuration prepares the built-in local one: ./data/dkim/localhost.pem.
        using var process = PeerProcess.Start("/usr/bin/strace",
            ["-f", "-qq", "-e", "trace=openat,creat,chmod,fchmod,fchmodat", "-o", trace, "dotnet", mailer, "check-config"], _directory);
        Assert.True(await process.WaitForExitAsync(TimeSpan.FromSeconds(60)) == 0, process.Output);

        var key = Path.Combine(_directory, "data", "dkim", "localhost.pem");
        var calls = (await File.ReadAllLinesAsync(trace)).Where(l => l.Contains("/data/dkim/", StringComparison.Ordinal)).ToArray();
        var creations = calls.Where(l => l.Contains("O_CREAT", StringComparison.Ordinal)).ToArray();
        Assert.NotEmpty(creations);
        Assert.All(creations, call => Assert.Equal("0600", CreationMode().Match(call).Groups[1].Value));
        Assert.DoesNotContain(calls, call => call.Contains("chmod", StringComparison.Ordinal));
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(key));
        Assert.Equal([key], Directory.GetFiles(Path.GetDirectoryName(key)!));
    }

    [Fact]
    public void The_self_signed_tls_key_is_owner_only_and_no_temporary_file_is_left()
    {
        TlsCertificates.Open(null, null, _directory, "mx.example.test", NullLogger.Instance);

        var tls = Path.Combine(_directory, "tls");
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(Path.Combine(tls, "self-signed-key.pem")));
        Assert.Equal(["self-signed-cert.pem", "self-signed-key.pem"], Directory.GetFiles(tls).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>The mode argument of <c>openat(..., O_...|O_CREAT|..., 0600)</c>.</summary>
    [GeneratedRegex(@"O_CREAT[^,]*, (0[0-7]+)\)")]
    private static partial Regex CreationMode();
}
