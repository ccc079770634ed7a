namespace ManycoreMail.TransportSecurity.Reporting;

/// <summary>The <c>_smtp._tls</c> TXT record (RFC 8460 §3): "v=TLSRPTv1; rua=mailto:tls@example.com,https://r.example.com/tlsrpt".</summary>
public sealed record TlsRptRecord(IReadOnlyList<Uri> ReportUris)
{
    /// <summary>The one record among <paramref name="txtRecords"/> starting with "v=TLSRPTv1"; null when none, several,
    /// or no rua address is mailto: or https: (§3: other schemes are ignored).</summary>
    public static TlsRptRecord? Select(IEnumerable<string> txtRecords)
    {
        ArgumentNullException.ThrowIfNull(txtRecords);
        var candidates = txtRecords.Where(t => t.StartsWith("v=TLSRPTv1", StringComparison.Ordinal)).Take(2).ToArray();
        return candidates.Length == 1 ? Parse(candidates[0]) : null;
    }

    public static TlsRptRecord? Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var fields = text.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length == 0 || fields[0] != "v=TLSRPTv1")
        {
            return null;
        }

        var uris = new List<Uri>();
        foreach (var field in fields.Skip(1))
        {
            var equals = field.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || field[..equals].Trim() != "rua")
            {
                continue;
            }

            foreach (var address in field[(equals + 1)..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (Uri.TryCreate(address, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeMailto || uri.Scheme == Uri.UriSchemeHttps))
                {
                    uris.Add(uri);
                }
            }
        }

        return uris.Count > 0 ? new TlsRptRecord(uris) : null;
    }
}
