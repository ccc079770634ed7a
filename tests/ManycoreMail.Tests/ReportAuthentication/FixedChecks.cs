using System.Net;
using ManycoreMail.Dkim;
using ManycoreMail.Dns.Spf;
using ManycoreMail.Metrics;
using ManycoreMail.ReportAuthentication;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.Tests.ReportAuthentication;

/// <summary>SPF answers given by the test, or never (until cancelled).</summary>
internal sealed class FixedSpf(SpfResult? result, string domain = "sender.example") : ISpfChecker
{
    public int Checks { get; private set; }

    public async ValueTask<SpfVerdict> CheckAsync(IPAddress client, string helo, string mailFrom, CancellationToken cancellationToken)
    {
        Checks++;
        if (result is { } answer)
        {
            return new SpfVerdict(answer, domain, "test");
        }
        await Task.Delay(Timeout.Infinite, cancellationToken);
        throw new InvalidOperationException("unreachable");
    }
}

/// <summary>No DKIM key anywhere.</summary>
internal sealed class NoDkimKeys : IDkimKeyResolver
{
    public ValueTask<DkimKeyLookup> LookupAsync(string selector, string domain, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new DkimKeyLookup(DkimKeyLookupStatus.NotFound, []));
}

internal static class ReportPolicies
{
    /// <summary>A policy whose SPF check answers <paramref name="spf"/> (null: never) and that knows no DKIM key.</summary>
    public static ReportPolicy With(ISpfChecker spf, MetricsRegistry metrics, bool suppressUnauthenticated = false, TimeSpan? deadline = null,
        IReadOnlyList<string>? feedbackLoops = null) =>
        new(new SenderAuthenticator(spf, new DkimVerifier(new NoDkimKeys(), TimeProvider.System), deadline ?? TimeSpan.FromSeconds(30), NullLogger<SenderAuthenticator>.Instance),
            new ReportTrust(feedbackLoops ?? [], PublicSuffixList.Empty), suppressUnauthenticated, metrics);
}
