using System.Net;
using System.Text;
using ManycoreMail.Dns;

namespace ManycoreMail.TransportSecurity.MtaSts;

/// <summary>Why a policy could not be had: a reportable RFC 8460 result type and a sentence.</summary>
public sealed class MtaStsFetchException(string resultType, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>"sts-policy-fetch-error" or "sts-policy-invalid" (RFC 8460 §4.3.2.1), or "sts-webpki-invalid".</summary>
    public string ResultType { get; } = resultType;
}

/// <summary>Fetches https://mta-sts.&lt;domain&gt;/.well-known/mta-sts.txt (RFC 8461 §3.3): the host resolved through our
/// own resolver (the one <c>sender/dns-servers</c> names, not the system's), its certificate verified with
/// <see cref="CertificateTrust"/>, no redirects, a size and a time limit.</summary>
public sealed class MtaStsFetcher : IDisposable
{
    /// <summary>Policies are a few lines; 64 KiB is what RFC 8461 §3.3 suggests as a limit.</summary>
    public const int MaxPolicyBytes = 64 * 1024;

    private readonly HttpClient _http;
    private readonly int _port;

    public MtaStsFetcher(IDnsResolver resolver, CertificateTrust trust, TimeSpan timeout, int port = 443)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        ArgumentNullException.ThrowIfNull(trust);
        _port = port;
        // §3.3: "HTTP 3xx redirects MUST NOT be followed".
        _http = ResolvingHttp.CreateClient(resolver, trust, timeout);
        _http.MaxResponseContentBufferSize = MaxPolicyBytes;
    }

    public async Task<MtaStsPolicy> FetchAsync(string domain, CancellationToken cancellationToken)
    {
        var host = "mta-sts." + domain;
        var uri = new UriBuilder(Uri.UriSchemeHttps, host, _port, "/.well-known/mta-sts.txt").Uri;
        string body;
        try
        {
            using var response = await _http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new MtaStsFetchException("sts-policy-fetch-error", $"{uri} answered {(int)response.StatusCode} (a policy needs 200, redirects are not followed)");
            }

            if (response.Content.Headers.ContentType?.MediaType is { } type && !string.Equals(type, "text/plain", StringComparison.OrdinalIgnoreCase))
            {
                throw new MtaStsFetchException("sts-policy-invalid", $"{uri} is {type}, not text/plain");
            }

            if (response.Content.Headers.ContentLength > MaxPolicyBytes)
            {
                throw new MtaStsFetchException("sts-policy-invalid", $"{uri} is larger than {MaxPolicyBytes} bytes");
            }

            var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            body = Encoding.UTF8.GetString(bytes);
        }
        catch (HttpRequestException e) when (e.InnerException is System.Security.Authentication.AuthenticationException)
        {
            throw new MtaStsFetchException("sts-webpki-invalid", $"{uri}: the policy server's certificate is not valid for {host}", e);
        }
        catch (HttpRequestException e)
        {
            throw new MtaStsFetchException("sts-policy-fetch-error", $"{uri}: {e.Message}", e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new MtaStsFetchException("sts-policy-fetch-error", $"{uri}: no answer within {_http.Timeout.TotalSeconds:0} s", e);
        }

        try
        {
            return MtaStsPolicy.Parse(body);
        }
        catch (FormatException e)
        {
            throw new MtaStsFetchException("sts-policy-invalid", $"{uri}: {e.Message}", e);
        }
    }

    public void Dispose() => _http.Dispose();
}
