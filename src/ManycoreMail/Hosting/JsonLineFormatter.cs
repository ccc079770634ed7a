using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace ManycoreMail.Hosting;

/// <summary>
/// <c>MAILER_LOG_FORMAT=json</c>: one JSON object per line, <c>timestamp</c> (UTC), <c>level</c>, <c>category</c>,
/// <c>message</c>, then each structured field of the message template by its name in camelCase, and <c>exception</c> when
/// there is one.
/// </summary>
/// <remarks>
/// The console package's JSON formatter nests the fields under <c>State</c> and capitalises the names
/// (<c>LogLevel</c>, <c>Category</c>), which is not what log shippers are told to expect here; this one writes the
/// fields flat so that <c>jq 'select(.recipient == "...")'</c> works.
/// </remarks>
internal sealed class JsonLineFormatter : ConsoleFormatter
{
    public const string FormatterName = "mailer-json";
    private const string TemplateKey = "{OriginalFormat}";
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public JsonLineFormatter() : base(FormatterName)
    {
    }

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (message is null && logEntry.Exception is null)
        {
            return;
        }
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("timestamp", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            writer.WriteString("level", LevelName(logEntry.LogLevel));
            writer.WriteString("category", logEntry.Category);
            writer.WriteString("message", message ?? "");
            if (logEntry.State is IReadOnlyList<KeyValuePair<string, object?>> fields)
            {
                foreach (var (name, value) in fields)
                {
                    if (name == TemplateKey || JsonNamingPolicy.CamelCase.ConvertName(name) is "timestamp" or "level" or "category" or "message" or "exception")
                    {
                        continue;
                    }
                    // camelCase as the events' JSON is: {Uuid} becomes "uuid", {MxHost} "mxHost".
                    WriteField(writer, JsonNamingPolicy.CamelCase.ConvertName(name), value);
                }
            }
            if (logEntry.Exception is { } exception)
            {
                writer.WriteString("exception", exception.ToString());
            }
            writer.WriteEndObject();
        }
        textWriter.Write(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
        textWriter.Write('\n');
    }

    private static void WriteField(Utf8JsonWriter writer, string name, object? value)
    {
        switch (value)
        {
            case null:
                writer.WriteNull(name);
                break;
            case bool flag:
                writer.WriteBoolean(name, flag);
                break;
            case int or long or short or byte or uint or ulong or ushort:
                writer.WriteNumber(name, Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
                break;
            case double or float or decimal:
                writer.WriteNumber(name, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture));
                break;
            case TimeSpan span:
                writer.WriteNumber(name, Math.Round(span.TotalSeconds, 3));
                break;
            case DateTimeOffset at:
                writer.WriteString(name, at.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
                break;
            case DateTime moment:
                writer.WriteString(name, moment.ToUniversalTime().ToString("O", System.Globalization.CultureInfo.InvariantCulture));
                break;
            default:
                writer.WriteString(name, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));
                break;
        }
    }

    private static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Trace => "trace",
        LogLevel.Debug => "debug",
        LogLevel.Information => "information",
        LogLevel.Warning => "warning",
        LogLevel.Error => "error",
        LogLevel.Critical => "critical",
        _ => "none",
    };
}
