namespace ManycoreMail.Config;

/// <summary>The sender's transport security keys: <c>sender/mta-sts</c>, <c>sender/dane</c>, <c>sender/ca-file</c>,
/// <c>sender/tls-rpt: {organization, contact}</c>.</summary>
internal sealed record TransportSecurityOptions
{
    /// <summary>Apply recipient domains' MTA-STS policies (RFC 8461).</summary>
    public bool MtaSts { get; init; } = true;
    /// <summary>Apply DNSSEC-authenticated TLSA records (RFC 7672); needs a validating resolver in sender/dns-servers.</summary>
    public bool Dane { get; init; } = true;
    /// <summary>PEM roots trusted besides the system's for MTA-STS (MX hosts and policy servers); null: none.</summary>
    public string? CaFile { get; init; }
    /// <summary>Null: no TLS-RPT reports are sent, and sessions are not counted.</summary>
    public TlsReportingOptions? TlsRpt { get; init; }
}

/// <param name="Organization">organization-name of the reports.</param>
/// <param name="Contact">contact-info of the reports (a mailto: address or a URL), also the From of mailed ones when
/// it is a mail address.</param>
internal sealed record TlsReportingOptions(string Organization, string Contact);

internal static partial class ConfigLoader
{
    private static TransportSecurityOptions ReadTransportSecurity(YamlSection sender)
    {
        var caFile = sender.String("ca-file");
        if (caFile is not null && !File.Exists(FullPath(caFile)))
        {
            sender.Error("ca-file", $"'{caFile}' does not exist");
        }

        TlsReportingOptions? tlsRpt = null;
        if (sender.Has("tls-rpt"))
        {
            var section = sender.Section("tls-rpt");
            var organization = section.String("organization", required: true);
            var contact = section.String("contact", required: true);
            if (contact is not null && !contact.Contains('@', StringComparison.Ordinal) && !Uri.TryCreate(contact, UriKind.Absolute, out _))
            {
                section.Error("contact", $"'{contact}' is neither a mail address nor a URL");
            }

            tlsRpt = organization is null || contact is null ? null : new TlsReportingOptions(organization, contact);
        }

        return new TransportSecurityOptions
        {
            MtaSts = sender.Bool("mta-sts") ?? true,
            Dane = sender.Bool("dane") ?? true,
            CaFile = caFile is null ? null : FullPath(caFile),
            TlsRpt = tlsRpt,
        };
    }
}
