using System.Globalization;
using System.Net;
using System.Text;
using ManycoreMail.Dns.Spf;
using ManycoreMail.Mime;

namespace ManycoreMail.Inbound;

/// <summary>
/// What the MX server learns at the door and the inbound worker needs later, carried in the message itself as the
/// receiving MTA's trace fields: an <c>Authentication-Results</c> field (RFC 8601) with the SPF result of the client
/// address, HELO and MAIL FROM (only known at the door), above a <c>Received</c> field (RFC 5321 §4.4). The worker
/// reads the SPF result back from the topmost field, which is always ours; a sender's own forged
/// Authentication-Results further down is never read. DKIM is verified by the worker (it has time; nothing it needs
/// is lost after the door).
/// </summary>
internal static class InboundTrace
{
    private const string AuthenticationResults = "Authentication-Results";

    /// <summary>The trace fields to put above the received bytes, CRLF-terminated.</summary>
    public static byte[] Prefix(string hostName, SpfVerdict spf, IPAddress client, string? helo, bool tls, DateTimeOffset now)
    {
        var text = new StringBuilder(256);
        text.Append(AuthenticationResults).Append(": ").Append(hostName).Append(";\r\n\tspf=").Append(ResultName(spf.Result));
        if (Token(spf.Domain) is { Length: > 0 } domain)
        {
            text.Append(" smtp.mailfrom=").Append(domain);
        }
        text.Append("\r\nReceived: from ").Append(Token(helo) is { Length: > 0 } name ? name : "unknown")
            .Append(" ([").Append(client).Append("])\r\n\tby ").Append(hostName)
            .Append(" (Manycore Mail) with ").Append(tls ? "ESMTPS" : "ESMTP").Append(";\r\n\t")
            .Append(now.UtcDateTime.ToString("ddd, dd MMM yyyy HH:mm:ss '+0000'", CultureInfo.InvariantCulture)).Append("\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    /// <summary>The SPF result our own topmost Authentication-Results field records, or <c>none</c> without one.</summary>
    public static string SpfResult(MessageHeaders headers)
    {
        if (headers.Fields.Count == 0 || !headers.Fields[0].Name.Equals(AuthenticationResults, StringComparison.OrdinalIgnoreCase))
        {
            return "none";
        }
        var value = headers.Fields[0].Value;
        var at = value.IndexOf("spf=", StringComparison.OrdinalIgnoreCase);
        if (at < 0)
        {
            return "none";
        }
        var end = at + 4;
        while (end < value.Length && char.IsAsciiLetter(value[end]))
        {
            end++;
        }
        return value[(at + 4)..end].ToLowerInvariant();
    }

    /// <summary>RFC 8601 §2.7.2 names.</summary>
    public static string ResultName(SpfResult result) => result switch
    {
        Dns.Spf.SpfResult.Pass => "pass",
        Dns.Spf.SpfResult.Fail => "fail",
        Dns.Spf.SpfResult.SoftFail => "softfail",
        Dns.Spf.SpfResult.Neutral => "neutral",
        Dns.Spf.SpfResult.TempError => "temperror",
        Dns.Spf.SpfResult.PermError => "permerror",
        _ => "none",
    };

    /// <summary>A client-given name as a safe token: only what a host name or address may hold, so a HELO cannot
    /// inject a field or a comment.</summary>
    private static string? Token(string? text) =>
        text is null ? null : new string(text.Where(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or '@' or '+' or ':' or '[' or ']').Take(255).ToArray());
}
