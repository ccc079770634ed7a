using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using ManycoreMail.TransportSecurity.Reporting;

namespace ManycoreMail.TransportSecurity;

/// <summary>What the SMTP connector calls around each connection: the policy for the domain's hosts before, a
/// certificate check during the handshake, and the outcome after, each session counted for TLS-RPT.</summary>
/// <remarks>A host the policy refused (certificate, handshake, no STARTTLS) is not tried again for that domain for
/// <see cref="RememberRefusalFor"/> while the policy is the same: a domain whose MX keeps failing its policy would
/// otherwise cost a connection and a handshake on every retry of every message, for the same answer.</remarks>
public sealed class TransportSecurityGate(ITransportPolicy policy, ITlsReportSink reports, TimeProvider? time = null)
{
    /// <summary>Short, so a repaired server is used again soon; a changed policy (new TLSA records, a new MTA-STS
    /// policy) is tried at once.</summary>
    public static readonly TimeSpan RememberRefusalFor = TimeSpan.FromMinutes(5);

    /// <summary>Refusals remembered at most; past it they are forgotten (costing one more connection each).</summary>
    private const int MaxRememberedRefusals = 10_000;

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<(string Domain, string Host), RememberedRefusal> _refusals = new();

    private sealed record RememberedRefusal(string Policy, PolicyRefusal Refusal, DateTimeOffset Until);

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

        if (_refusals.IsEmpty)
        {
            return resolved;
        }

        // Hosts refused a moment ago under this same policy are skipped, as if the policy excluded them.
        return resolved with
        {
            Hosts = [.. resolved.Hosts.Select(h => h.Skip is null && Remembered(resolved, h) is { } remembered ? h with { Skip = remembered.Refusal.Reason } : h)],
        };
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
    /// <remarks>A refusal is remembered: <see cref="ResolveAsync"/> skips the host for a while (see the class).</remarks>
    public PolicyRefusal? Refusal(DomainTlsPolicy domain, HostTlsPolicy? host, Exception error, string? certificateRefusal, bool startTlsRefused)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(error);
        if (host is not { TlsRequired: true, ReportOnly: false })
        {
            return null;
        }

        var refusal = certificateRefusal is not null ? PolicyRefusal.Failed($"{host.Host}: {Describe(host)} refused the certificate: {certificateRefusal}")
            : startTlsRefused ? PolicyRefusal.NoTls($"{host.Host}: TLS is required by {Describe(host)} but {error.Message}")
            : error.InnerException is System.Security.Authentication.AuthenticationException ? PolicyRefusal.Failed($"{host.Host}: TLS is required by {Describe(host)} but {error.Message}")
            : null;
        if (refusal is not null)
        {
            Remember(domain, host, refusal);
        }

        return refusal;
    }

    /// <summary>A host the policy excludes outright (<see cref="HostTlsPolicy.Skip"/>), or one refused a moment ago:
    /// then the refusal again, with its own status (4.7.4 stays 4.7.4).</summary>
    public PolicyRefusal Skipped(DomainTlsPolicy domain, HostTlsPolicy host)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(host);
        return Remembered(domain, host) is { } remembered
            ? remembered.Refusal with { Reason = $"{remembered.Refusal.Reason} (refused before; not tried again until {remembered.Until:HH:mm:ss} UTC)" }
            : PolicyRefusal.Failed($"{host.Host}: {Describe(host)}: {host.Skip}");
    }

    private void Remember(DomainTlsPolicy domain, HostTlsPolicy host, PolicyRefusal refusal)
    {
        if (_refusals.Count >= MaxRememberedRefusals)
        {
            _refusals.Clear();
        }

        _refusals[Key(domain, host)] = new RememberedRefusal(Fingerprint(domain, host), refusal, _time.GetUtcNow() + RememberRefusalFor);
    }

    private RememberedRefusal? Remembered(DomainTlsPolicy domain, HostTlsPolicy host)
    {
        var key = Key(domain, host);
        if (!_refusals.TryGetValue(key, out var remembered))
        {
            return null;
        }

        if (remembered.Until > _time.GetUtcNow() && remembered.Policy == Fingerprint(domain, host))
        {
            return remembered;
        }

        _refusals.TryRemove(KeyValuePair.Create(key, remembered));
        return null;
    }

    private static (string, string) Key(DomainTlsPolicy domain, HostTlsPolicy host) => (domain.Domain.ToLowerInvariant(), host.Host.ToLowerInvariant());

    /// <summary>What the refusal was measured against: the host's TLSA records, or the MTA-STS policy as fetched.</summary>
    private static string Fingerprint(DomainTlsPolicy domain, HostTlsPolicy host) =>
        $"{host.Kind}|{host.TlsRequired}|{string.Join(',', host.Tlsa)}|{domain.Sts?.Id}|{domain.Sts?.FetchedAt.UtcTicks}";

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
