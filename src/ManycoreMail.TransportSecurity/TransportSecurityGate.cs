using System.Net;
using System.Net.Security;
using ManycoreMail.TransportSecurity.Reporting;

namespace ManycoreMail.TransportSecurity;

/// <summary>What the SMTP connector calls around each connection: the policy for the domain's hosts before, a
/// certificate check during the handshake, and the outcome after, each session counted for TLS-RPT.</summary>
public sealed class TransportSecurityGate(ITransportPolicy policy, ITlsReportSink reports)
{
    public async Task<DomainTlsPolicy> ResolveAsync(string domain, IReadOnlyList<string> hosts, CancellationToken cancellationToken)
    {
        var resolved = await policy.ResolveAsync(domain, hosts, cancellationToken).ConfigureAwait(false);
        if (resolved.StsFailureType is { } failure)
        {
            reports.Record(Result(resolved, null, null) with { FailureType = failure, FailureReasonCode = resolved.StsFailure });
        }

        foreach (var host in resolved.Hosts.Where(h => h.Skip is not null && h.Kind == TlsPolicyKind.Tlsa))
        {
            reports.Record(Result(resolved, host, null) with { FailureType = TlsResultType.DnssecInvalid, ReceivingMxHostname = host.Host });
        }

        return resolved;
    }

    /// <summary>True when nothing is asked of <paramref name="host"/> for <paramref name="domain"/>'s mail.</summary>
    public async Task<bool> IsOpportunisticAsync(string domain, string host, CancellationToken cancellationToken)
    {
        var resolved = await policy.ResolveAsync(domain, [host], cancellationToken).ConfigureAwait(false);
        return resolved.For(host) is { Kind: TlsPolicyKind.None, TlsRequired: false, Skip: null };
    }

    /// <summary>The handshake's certificate check: the host policy decides, a refusal is counted (and under MTA-STS
    /// testing only counted: the connection goes on). <paramref name="refused"/> hears the reason, so the deferral
    /// can say it (the TLS stack only says "rejected by the callback").</summary>
    public RemoteCertificateValidationCallback Validator(DomainTlsPolicy domain, HostTlsPolicy host, IPEndPoint endPoint, Action<string>? refused = null) =>
        (_, certificate, chain, errors) =>
        {
            var refusal = host.Check(certificate, chain, errors);
            if (refusal is null)
            {
                return true;
            }

            reports.Record(Result(domain, host, endPoint) with { FailureType = FailureType(host, refusal), FailureReasonCode = refusal });
            if (!host.ReportOnly)
            {
                refused?.Invoke(refusal);
            }

            return host.ReportOnly;
        };

    /// <summary>Non-null when <paramref name="error"/> is the host policy refusing the connection rather than the
    /// network or the server failing: such a failure belongs to the recipient domain, not to the MX set.</summary>
    /// <param name="certificateRefusal">What <see cref="Validator"/> reported for this attempt, if anything.</param>
    /// <param name="startTlsRefused">The server did not offer STARTTLS or refused it: the caller knows by its SMTP
    /// client's exception type (this library sees no SMTP types).</param>
    public static PolicyRefusal? Refusal(HostTlsPolicy? host, Exception error, string? certificateRefusal, bool startTlsRefused)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (host is not { TlsRequired: true, ReportOnly: false })
        {
            return null;
        }

        if (certificateRefusal is not null)
        {
            return PolicyRefusal.Failed($"{host.Host}: {Describe(host)} refused the certificate: {certificateRefusal}");
        }

        if (startTlsRefused)
        {
            return PolicyRefusal.NoTls($"{host.Host}: TLS is required by {Describe(host)} but {error.Message}");
        }

        return error.InnerException is System.Security.Authentication.AuthenticationException
            ? PolicyRefusal.Failed($"{host.Host}: TLS is required by {Describe(host)} but {error.Message}")
            : null;
    }

    /// <summary>A host the policy excludes outright (<see cref="HostTlsPolicy.Skip"/>).</summary>
    public static PolicyRefusal Skipped(HostTlsPolicy host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return PolicyRefusal.Failed($"{host.Host}: {Describe(host)}: {host.Skip}");
    }

    private static string Describe(HostTlsPolicy host) => host.Kind switch
    {
        TlsPolicyKind.Sts => "the MTA-STS policy",
        _ => "DANE",
    };

    public void Connected(DomainTlsPolicy? domain, HostTlsPolicy? host, IPEndPoint endPoint, bool isTls)
    {
        if (domain is not null && host is not null && (isTls || host.Kind == TlsPolicyKind.None))
        {
            reports.Record(Result(domain, host, endPoint));
        }
    }

    /// <summary>Counts a required STARTTLS the server did not offer or refused; certificate refusals were counted by
    /// <see cref="Validator"/>.</summary>
    /// <param name="startTlsRefused">As for <see cref="Refusal"/>.</param>
    public void Failed(DomainTlsPolicy? domain, HostTlsPolicy? host, IPEndPoint endPoint, Exception error, bool startTlsRefused)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (domain is not null && host is { TlsRequired: true } && startTlsRefused)
        {
            reports.Record(Result(domain, host, endPoint) with { FailureType = TlsResultType.StartTlsNotSupported, FailureReasonCode = error.Message });
        }
    }

    private static string FailureType(HostTlsPolicy host, string refusal) =>
        host.Kind == TlsPolicyKind.Sts
            ? refusal.Contains("does not name", StringComparison.Ordinal) ? TlsResultType.CertificateHostMismatch : TlsResultType.CertificateNotTrusted
            : TlsResultType.ValidationFailure;

    private static TlsSessionResult Result(DomainTlsPolicy domain, HostTlsPolicy? host, IPEndPoint? endPoint)
    {
        var kind = host?.Kind ?? (domain.Sts is null ? TlsPolicyKind.None : TlsPolicyKind.Sts);
        IReadOnlyList<string> strings = kind switch
        {
            TlsPolicyKind.Sts when domain.Sts is { } sts => sts.Policy.Text.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
            TlsPolicyKind.Tlsa => [.. host!.Tlsa.Select(r => r.ToString())],
            _ => [],
        };
        return new TlsSessionResult(domain.Domain, kind, strings, domain.Sts?.Policy.MxPatterns ?? [],
            ReceivingMxHostname: host?.Host, ReceivingIp: endPoint?.Address);
    }
}
