using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using ManycoreMail.Dns;

namespace ManycoreMail.TransportSecurity;

/// <summary>HTTPS clients whose host names are resolved through our resolver (<c>sender/dns-servers</c>), not the
/// system's, whose certificates are checked with <see cref="CertificateTrust"/>, and which never follow redirects.</summary>
public static class ResolvingHttp
{
    public static HttpClient CreateClient(IDnsResolver resolver, CertificateTrust trust, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        ArgumentNullException.ThrowIfNull(trust);
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            ConnectCallback = (context, token) => ConnectAsync(resolver, context.DnsEndPoint, token),
            SslOptions = new SslClientAuthenticationOptions
            {
                // The handler sets the request's host as the TLS target, so the stack's name check is the one we want.
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) => trust.Verify(certificate, chain, errors, hostName: null) is null,
            },
        };
        var client = new HttpClient(handler) { Timeout = timeout };
        client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("ManycoreMail", "1"));
        return client;
    }

    /// <summary>Every address of the host through our resolver, in order, until one connects.</summary>
    private static async ValueTask<Stream> ConnectAsync(IDnsResolver resolver, DnsEndPoint endPoint, CancellationToken cancellationToken)
    {
        var addresses = await resolver.ResolveAddressesAsync(endPoint.Host, cancellationToken).ConfigureAwait(false);
        if (!addresses.IsOk)
        {
            throw new HttpRequestException($"{endPoint.Host} has no address ({addresses.Status})");
        }

        SocketException? last = null;
        foreach (var address in addresses.Records)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, endPoint.Port), cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw new HttpRequestException($"could not connect to {endPoint.Host}:{endPoint.Port}", last);
    }
}
