using System.Globalization;
using System.Text.Json;

namespace ManycoreMail.TransportSecurity.Reporting;

/// <summary>The JSON report of RFC 8460 §4.4 for one policy domain and one UTC day.</summary>
public static class TlsReportDocument
{
    public static byte[] Write(string organization, string contact, string reportId, DateOnly day, IEnumerable<TlsPolicyTally> policies)
    {
        ArgumentNullException.ThrowIfNull(policies);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("organization-name", organization);
            json.WriteStartObject("date-range");
            json.WriteString("start-datetime", Timestamp(day));
            json.WriteString("end-datetime", Timestamp(day.AddDays(1)));
            json.WriteEndObject();
            json.WriteString("contact-info", contact);
            json.WriteString("report-id", reportId);
            json.WriteStartArray("policies");
            foreach (var policy in policies)
            {
                WritePolicy(json, policy);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    public static string PolicyType(TlsPolicyKind kind) => kind switch
    {
        TlsPolicyKind.Sts => "sts",
        TlsPolicyKind.Tlsa => "tlsa",
        _ => "no-policy-found",
    };

    private static void WritePolicy(Utf8JsonWriter json, TlsPolicyTally policy)
    {
        json.WriteStartObject();
        json.WriteStartObject("policy");
        json.WriteString("policy-type", PolicyType(policy.Kind));
        if (policy.Kind != TlsPolicyKind.None)
        {
            WriteStrings(json, "policy-string", policy.PolicyStrings);
        }

        json.WriteString("policy-domain", policy.PolicyDomain);
        if (policy.Kind == TlsPolicyKind.Sts)
        {
            WriteStrings(json, "mx-host", policy.MxPatterns);
        }

        json.WriteEndObject();
        json.WriteStartObject("summary");
        json.WriteNumber("total-successful-session-count", policy.Successes);
        json.WriteNumber("total-failure-session-count", policy.FailureCount);
        json.WriteEndObject();
        if (policy.Failures.Count > 0)
        {
            json.WriteStartArray("failure-details");
            foreach (var failure in policy.Failures)
            {
                json.WriteStartObject();
                json.WriteString("result-type", failure.ResultType);
                WriteIfSet(json, "sending-mta-ip", failure.SendingMtaIp);
                WriteIfSet(json, "receiving-mx-hostname", failure.ReceivingMxHostname);
                WriteIfSet(json, "receiving-ip", failure.ReceivingIp);
                json.WriteNumber("failed-session-count", failure.Count);
                WriteIfSet(json, "failure-reason-code", failure.FailureReasonCode);
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        json.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter json, string name, IEnumerable<string> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStringValue(value);
        }

        json.WriteEndArray();
    }

    private static void WriteIfSet(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }

    private static string Timestamp(DateOnly day) =>
        day.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
