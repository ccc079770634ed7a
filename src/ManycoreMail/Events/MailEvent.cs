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
    /// <summary>Ours (the tracker): the open pixel was fetched. Posted only when listed in backdata/event-types.</summary>
    public const string Open = "open";
    /// <summary>Ours (the tracker): a tracked link was followed. Posted only when listed in backdata/event-types.</summary>
    public const string Click = "click";
    /// <summary>Ours (the transformer): a recipient was not sent to because of a suppression entry. Posted only when
    /// listed in backdata/event-types.</summary>
    public const string Suppressed = "suppressed";
    /// <summary>Ours: a scheduled message was cancelled (<c>DELETE /v1/messages/{uuid}</c>) before its time. Posted only
    /// when listed in backdata/event-types.</summary>
    public const string Cancelled = "cancelled";
    /// <summary>Ours (the inbound worker): a mail for an inbound route was taken by the customer's URL. Posted only when
    /// listed in backdata/event-types.</summary>
    public const string Inbound = "inbound";

    /// <summary>The kinds the original system posts; every other kind reaches the webhook only when
    /// backdata/event-types lists it (all are stored).</summary>
    public static readonly IReadOnlySet<string> Original = new HashSet<string>(StringComparer.Ordinal)
    {
        Delivered, Bounce, Error, SpamReport, Unsubscribe,
    };

    /// <summary>Ours: stored always, posted only when backdata/event-types lists them.</summary>
    public static readonly IReadOnlySet<string> Added = new HashSet<string>(StringComparer.Ordinal)
    {
        Deferred, Open, Click, Suppressed,
        Cancelled,
        Inbound,
    };
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
    /// <summary>open and click: the client's User-Agent header.</summary>
    public string? UserAgent { get; init; }
    /// <summary>click: the original URL the recipient was sent to.</summary>
    public string? Url { get; init; }
    /// <summary>open and click: true when it looks automated (a privacy proxy, a scanner).</summary>
    public bool Machine { get; init; }
    /// <summary>suppressed (the entry's scope) and unsubscribe (the scope left): <c>global</c> or <c>scope:value</c>.</summary>
    public string? Scope { get; init; }
    /// <summary>inbound: the HTTP status the customer's URL answered.</summary>
    public int? Status { get; init; }
    /// <summary>inbound: the host of the route's URL (not the whole URL, which may hold a token).</summary>
    public string? Host { get; init; }
    /// <summary>Ours: the message's tenant and campaign where the outcome knows them (written only when set, on delivered,
    /// bounce, deferred, suppressed, open, click and unsubscribe).</summary>
    public string? Tenant { get; init; }
    public string? Campaign { get; init; }
    /// <summary>delivered by the outbox (<c>sender/sink: true</c>): the .eml file and the return path (MAIL FROM) it
    /// would have been sent with; written only when set.</summary>
    public string? Outbox { get; init; }
    public string? ReturnPath { get; init; }
    /// <summary>Ours: bounce (and autoreply), spam-report and unsubscribe from the MX server: whether the report was
    /// authenticated (SPF, DKIM, the returned headers; see the MX server). Written only when set.</summary>
    public bool? Authenticated { get; init; }

    public static MailEvent Delivered(string? uuid, DateTimeOffset at, string? ip, string email) =>
        new() { Kind = EventKinds.Delivered, Uuid = uuid, Timestamp = at.ToUnixTimeSeconds(), Ip = ip, Email = email };

    public static MailEvent Bounce(string? uuid, DateTimeOffset at, string? ip, string type, string reason, string? email) =>
        new() { Kind = EventKinds.Bounce, Uuid = uuid, Timestamp = at.ToUnixTimeSeconds(), Ip = ip, Type = type, Reason = reason, Email = email };

    public static MailEvent Error(string service, string? uuid, DateTimeOffset at, string message, string? stackTrace = null) =>
        new() { Kind = EventKinds.Error, Service = service, Uuid = uuid, Timestamp = at.ToUnixTimeSeconds(), Message = message, StackTrace = stackTrace ?? "" };

    public static MailEvent Deferred(string? uuid, DateTimeOffset at, string reason, string email, string? bounceClass) =>
        new() { Kind = EventKinds.Deferred, Uuid = uuid, Timestamp = at.ToUnixTimeSeconds(), Reason = reason, Email = email, Class = bounceClass };

    /// <summary>The original's unsubscribe event; <paramref name="email"/> and <paramref name="scope"/> are ours,
    /// written only when known (the tracker knows both from its token).</summary>
    public static MailEvent Unsubscribe(string uuid, DateTimeOffset at, string? email = null, string? scope = null) =>
        new() { Kind = EventKinds.Unsubscribe, Uuid = uuid, Timestamp = at.ToUnixTimeSeconds(), Email = email, Scope = scope };

    public static MailEvent Open(string uuid, DateTimeOffset at, string email, string? ip, string? userAgent, bool machine) =>
        new() { Kind = EventKinds.Open, Uuid = uuid, Timestamp = at.ToUnixTimeSeconds(), Email = email, Ip = ip, UserAgent = userAgent, Machine = machine };

    public static MailEvent Click(string uuid, DateTimeOffset at, string email, string url, string? ip, string? userAgent, bool machine) =>
        new() { Kind = EventKinds.Click, Uuid = uuid, Timestamp = at.ToUnixTimeSeconds(), Email = email, Url = url, Ip = ip, UserAgent = userAgent, Machine = machine };

    /// <summary><paramref name="reason"/> is the entry's (unsubscribe, complaint, bounce, manual), <paramref name="scope"/>
    /// the entry's scope as <c>global</c> or <c>scope:value</c>.</summary>
    public static MailEvent Suppressed(string? uuid, DateTimeOffset at, string email, string reason, string scope) =>
        new() { Kind = EventKinds.Suppressed, Uuid = uuid, Timestamp = at.ToUnixTimeSeconds(), Email = email, Reason = reason, Scope = scope };

    public static MailEvent Cancelled(string uuid, DateTimeOffset at) =>
        new() { Kind = EventKinds.Cancelled, Uuid = uuid, Timestamp = at.ToUnixTimeSeconds() };

    /// <summary>One per recipient of an inbound mail the customer's URL took (<paramref name="status"/> 2xx).</summary>
    public static MailEvent Inbound(string uuid, DateTimeOffset at, string email, string host, int status) =>
        new() { Kind = EventKinds.Inbound, Uuid = uuid, Timestamp = at.ToUnixTimeSeconds(), Email = email, Host = host, Status = status };

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
                    WriteTenancy(json);
                    WriteIfSet(json, "outbox", Outbox);
                    WriteIfSet(json, "return-path", ReturnPath);
                    break;
                case EventKinds.Bounce:
                    WriteUuidTimestamp(json);
                    json.WriteString("ip", Ip);
                    json.WriteString("type", Type);
                    json.WriteString("reason", Reason ?? "");
                    WriteIfSet(json, "email", Email);
                    WriteIfSet(json, "class", Class);
                    WriteTenancy(json);
                    WriteIfSet(json, "authenticated", Authenticated);
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
                    WriteTenancy(json);
                    break;
                case EventKinds.SpamReport:
                    WriteUuidTimestamp(json);
                    json.WriteString("email", Email);
                    WriteIfSet(json, "authenticated", Authenticated);
                    break;
                case EventKinds.Unsubscribe:
                    WriteUuidTimestamp(json);
                    WriteIfSet(json, "email", Email);
                    WriteIfSet(json, "scope", Scope);
                    WriteTenancy(json);
                    WriteIfSet(json, "authenticated", Authenticated);
                    break;
                case EventKinds.Open:
                case EventKinds.Click:
                    WriteUuidTimestamp(json);
                    json.WriteString("email", Email);
                    WriteIfSet(json, "url", Url);
                    json.WriteString("ip", Ip);
                    json.WriteString("user_agent", UserAgent);
                    json.WriteBoolean("machine", Machine);
                    WriteTenancy(json);
                    break;
                case EventKinds.Suppressed:
                    WriteUuidTimestamp(json);
                    json.WriteString("email", Email);
                    json.WriteString("reason", Reason ?? "");
                    json.WriteString("scope", Scope);
                    WriteTenancy(json);
                    break;
                case EventKinds.Inbound:
                    WriteUuidTimestamp(json);
                    json.WriteString("email", Email);
                    json.WriteString("host", Host);
                    json.WriteNumber("status", Status ?? 0);
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

    private void WriteTenancy(Utf8JsonWriter json)
    {
        WriteIfSet(json, "tenant", Tenant);
        WriteIfSet(json, "campaign", Campaign);
    }

    private static void WriteIfSet(Utf8JsonWriter json, string name, bool? value)
    {
        if (value is { } set)
        {
            json.WriteBoolean(name, set);
        }
    }

    private static void WriteIfSet(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }
}
