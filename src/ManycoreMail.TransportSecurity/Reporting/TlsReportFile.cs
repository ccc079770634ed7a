using System.Text.Json;
using System.Text.Json.Serialization;

namespace ManycoreMail.TransportSecurity.Reporting;

/// <summary>One UTC day's counts, every policy seen that day.</summary>
public sealed record TlsReportDay(DateOnly Day, IReadOnlyList<TlsPolicyTally> Policies);

/// <summary>A report that went out: <paramref name="Domain"/>'s (lower case) for <paramref name="Day"/>.</summary>
public sealed record TlsSentReport(DateOnly Day, string Domain);

/// <summary>What <see cref="TlsReportFile"/> holds: the counts not yet reported and the reports recently sent.</summary>
public sealed record TlsReportState(IReadOnlyList<TlsReportDay> Days, IReadOnlyList<TlsSentReport> Sent);

/// <summary>The TLS-RPT counts on disk: <c>tls-rpt.json</c> in a directory (the host's <c>storage/path</c>), rewritten
/// whole through a temporary file and a rename, so a crash leaves the old or the new one, never half of either.</summary>
public sealed class TlsReportFile
{
    public const string FileName = "tls-rpt.json";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public TlsReportFile(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Path = System.IO.Path.Combine(directory, FileName);
    }

    public string Path { get; }

    /// <summary>The stored state; null when there is no file yet.</summary>
    /// <exception cref="InvalidDataException">The file is not a tally file; the message names it.</exception>
    public TlsReportState? Load()
    {
        if (!File.Exists(Path))
        {
            return null;
        }

        try
        {
            var state = JsonSerializer.Deserialize<TlsReportState>(File.ReadAllBytes(Path), Json);
            return state is { Days: not null, Sent: not null } ? state : throw new InvalidDataException($"{Path} is not a TLS-RPT count file: 'days' or 'sent' is missing");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{Path} is not a TLS-RPT count file: {e.Message}", e);
        }
    }

    public async Task WriteAsync(TlsReportState state, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(state);
        var temporary = Path + ".tmp";
        await File.WriteAllBytesAsync(temporary, JsonSerializer.SerializeToUtf8Bytes(state, Json), cancellationToken).ConfigureAwait(false);
        File.Move(temporary, Path, overwrite: true);
    }
}
