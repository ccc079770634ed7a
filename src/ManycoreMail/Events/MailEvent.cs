using System.Text.Json;

namespace ManycoreMail.Events;

/// <summary>The event kinds the original system posts, with its exact names.</summary>
internal static class EventKinds
{
    public const string Delivered = "delivered";
    public const string Bounce = "bounce";
    public const string Error = "error";
    public const string SpamReport = "spam-report";
    public const string Unsubscribe = "unsubscribe";
    /// <summary>Ours, not the original's: posted only when backdata/event-types asks for it.</summary>
    public const string Deferred = "deferred";
}

/// <summary>The original system's service names for error events.</summary>
internal static class ServiceNames
{
    public const string HttpReceiver = "http-receiver";
    public const string Receiver = "receiver";
    public const string Transformer = "transformer";
    public const string Sender = "postfix";
    public const string MxServer = "mxserver";
}

/// <summary>
/// One outcome reported to the customer's webhook, serialised with exactly the original field names
/// (spec §9). Fields we add (<c>email</c> on delivered and bounce) never replace original ones.
/// </summary>
internal sealed record MailEvent
{
    public required string Kind { get; init; }
    public string? Uuid { get; init; }
    public required long Timestamp { get; init; }
    public string? Ip { get; init; }
    public string? Type { get; init; }
    public string? Reason { get; init; }
    public string? Email { get; init; }
    public string? Message { get; init; }
    public string? StackTrace { get; init; }
    public string? Service { get; init; }
    /// <summary>Bounce reason class (sisimai's names), set by the MX server's classifier; new, written only when set.</summary>
    public string? Class { get; init; }

    public static MailEvent Delivered(string? uuid, DateTimeOffset at, string? ip, string email) =>
        new() { Kind = EventKinds.Delivered, Uuid = uuid, Timestamp = at.ToUnixTimeSeconds(), Ip = ip, Email = email };

    public static MailEvent Bounce(string? uuid, DateTimeOffset at, string? ip, string type, string reason, string? email) =>
        new() { Kind = EventKinds.Bounce, Uuid = uuid, Timestamp = at.ToUnixTimeSeconds(), Ip = ip, Type = type, Reason = reason, Email = email };

    public static MailEvent Error(string service, string? uuid, DateTimeOffset at, string message, string? stackTrace = null) =>
        new() { Kind = EventKinds.Error, Service = service, Uuid = uuid, Timestamp = at.ToUnixTimeSeconds(), Message = message, StackTrace = stackTrace ?? "" };

    public static MailEvent Deferred(string? uuid, DateTimeOffset at, string reason, string email, string? bounceClass) =>
        new() { Kind = EventKinds.Deferred, Uuid = uuid, Timestamp = at.ToUnixTimeSeconds(), Reason = reason, Email = email, Class = bounceClass };

    public static MailEvent Unsubscribe(string uuid, DateTimeOffset at) =>
        new() { Kind = EventKinds.Unsubscribe, Uuid = uuid, Timestamp = at.ToUnixTimeSeconds() };

    public static MailEvent SpamReport(string? uuid, DateTimeOffset at, string? email) =>
        new() { Kind = EventKinds.SpamReport, Uuid = uuid, Timestamp = at.ToUnixTimeSeconds(), Email = email };

    public byte[] ToJsonBytes()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("event", Kind);
            switch (Kind)
            {
                case EventKinds.Delivered:
                    WriteUuidTimestamp(json);
                    json.WriteString("ip", Ip);
                    WriteIfSet(json, "email", Email);
                    break;
                case EventKinds.Bounce:
                    WriteUuidTimestamp(json);
                    json.WriteString("ip", Ip);
                    json.WriteString("type", Type);
                    json.WriteString("reason", Reason ?? "");
                    WriteIfSet(json, "email", Email);
                    WriteIfSet(json, "class", Class);
                    break;
                case EventKinds.Error:
                    json.WriteString("msg", Message ?? "");
                    json.WriteString("stack-trace", StackTrace ?? "");
                    json.WriteString("service", Service);
                    WriteUuidTimestamp(json);
                    break;
                case EventKinds.Deferred:
                    WriteUuidTimestamp(json);
                    json.WriteString("reason", Reason ?? "");
                    WriteIfSet(json, "email", Email);
                    WriteIfSet(json, "class", Class);
                    break;
                case EventKinds.SpamReport:
                    WriteUuidTimestamp(json);
                    json.WriteString("email", Email);
                    break;
                default:
                    WriteUuidTimestamp(json);
                    break;
            }
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private void WriteUuidTimestamp(Utf8JsonWriter json)
    {
        json.WriteString("uuid", Uuid);
        json.WriteNumber("timestamp", Timestamp);
    }

    private static void WriteIfSet(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }
}
