using System.Diagnostics;
using System.Text.Json;

namespace ManycoreMail.Compose.Tests;

/// <summary>An independent parser: Python's email package, run as a real process over the composed bytes.</summary>
internal static class PythonEmail
{
    public static async Task<JsonElement> ParseAsync(byte[] message)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "python_parse.py");
        var start = new ProcessStartInfo("python3", [script])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var error = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.StandardInput.BaseStream.WriteAsync(message, timeout.Token);
        process.StandardInput.Close();
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, await error);
        return JsonDocument.Parse(await output).RootElement.Clone();
    }
}
