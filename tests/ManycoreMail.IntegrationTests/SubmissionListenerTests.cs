using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using ManycoreMail.Hosting;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.IntegrationTests;

/// <summary>The SMTP listeners as the host builds them from YAML: limits and PROXY protocol keys, certificate
/// reloading, the MX null sender, and a graceful stop that loses nothing acknowledged.</summary>
public sealed class SubmissionListenerTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly TestWorld _world = new();

    private MailerConfig WriteConfig(string receiverKeys = "", string trusted = "[]")
    {
        var config = new MailerConfig(_world, "http://127.0.0.1:9/unused") { TrustedNetworks = trusted }.Write();
        var text = File.ReadAllText(config.CustomerFile);
        text = Regex.Replace(text, "^receiver:\n", "receiver:\n" + receiverKeys, RegexOptions.Multiline);
        File.WriteAllText(config.CustomerFile, text);
        return config;
    }

    [Fact]
    public async Task Proxy_protocol_and_limits_come_from_the_receiver_section()
    {
        var config = WriteConfig("  proxy-protocol: true\n  proxy-protocol-from: [127.0.0.0/8]\n  max-sessions-per-client: 1\n  command-timeout-seconds: 30\n", trusted: "[10.0.0.0/8]");
        await using var mailer = await RunningMailer.StartAsync(config, [RoleNames.Receiver]);

        // A client in 10/8 behind the load balancer is trusted: MAIL without AUTH.
        using var first = await ConnectAsync(config.Receiver);
        await first.WriteAsync("PROXY TCP4 10.9.9.9 10.0.0.1 40000 587\r\n");
        Assert.StartsWith("220 ", await first.ReadReplyAsync());
        await first.WriteAsync("EHLO lb.test\r\n");
        await first.ReadReplyAsync();
        await first.WriteAsync("MAIL FROM:<a@sender.test>\r\n");
        Assert.Equal("250 2.1.0 Sender OK", await first.ReadReplyAsync());

        // The same client again is over its limit of one.
        using var second = await ConnectAsync(config.Receiver);
        await second.WriteAsync("PROXY TCP4 10.9.9.9 10.0.0.1 40001 587\r\n");
        Assert.Equal("421 4.7.0 Too many connections from your address, try again later", await second.ReadReplyAsync());
        // Closed, so the load balancer's own count (one header pending at a time) is free again.
        Assert.Null(await second.ReadLineAsync());

        // Without a header: closed without a word.
        using var direct = await ConnectAsync(config.Receiver);
        await direct.WriteAsync("EHLO direct.test\r\n");
        Assert.Null(await direct.ReadLineAsync());
    }

    [Fact]
    public async Task A_peer_outside_proxy_protocol_from_cannot_claim_a_trusted_address()
    {
        var config = WriteConfig("  proxy-protocol: true\n  proxy-protocol-from: [192.0.2.0/24]\n", trusted: "[10.0.0.0/8]");
        await using var mailer = await RunningMailer.StartAsync(config, [RoleNames.Receiver]);

        // 127.0.0.1 is no load balancer of ours: its header must not make it the trusted 10.9.9.9.
        using var client = await ConnectAsync(config.Receiver);
        try
        {
            await client.WriteAsync("PROXY TCP4 10.9.9.9 10.0.0.1 40000 587\r\nEHLO lb.test\r\nMAIL FROM:<a@sender.test>\r\n");
        }
        catch (IOException)
        {
            // Closed before the bytes went out: just as refused.
        }
        Assert.Null(await client.ReadLineAsync());
    }

    [Fact]
    public async Task The_sixth_wrong_smtp_password_from_one_address_across_connections_gets_454()
    {
        // Trusted, so AUTH is offered without TLS and the test speaks plain text.
        var config = WriteConfig(trusted: "[127.0.0.0/8]");
        await using var mailer = await RunningMailer.StartAsync(config, [RoleNames.Receiver]);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("535 5.7.8 Authentication credentials invalid", await AuthenticateAsync(config.Receiver, IPAddress.Loopback, "apa", "wrong-" + i));
        }

        var sixth = await AuthenticateAsync(config.Receiver, IPAddress.Loopback, "apa", "banan");
        Assert.StartsWith("454 4.7.0 Too many failed logins from your address, try again in ", sixth);
        // Another address is another client.
        Assert.Equal("235 2.7.0 Authentication successful", await AuthenticateAsync(config.Receiver, IPAddress.Parse("127.0.0.2"), "apa", "banan"));
    }

    [Fact]
    public async Task Http_basic_failures_from_one_address_get_429_with_retry_after_and_others_are_unaffected()
    {
        var config = WriteConfig();
        await using var mailer = await RunningMailer.StartAsync(config, [RoleNames.HttpReceiver, RoleNames.Receiver]);
        using var client = HttpFrom(IPAddress.Loopback);
        for (var i = 0; i < 5; i++)
        {
            using var failed = await SendAsync(client, config, "admin:wrong-" + i);
            Assert.Equal(HttpStatusCode.Unauthorized, failed.StatusCode);
        }

        using var sixth = await SendAsync(client, config, "admin:secret");
        Assert.Equal(HttpStatusCode.TooManyRequests, sixth.StatusCode);
        Assert.True(sixth.Headers.RetryAfter?.Delta > TimeSpan.Zero, "429 without Retry-After");
        Assert.Equal("application/problem+json", sixth.Content.Headers.ContentType?.MediaType);
        // One throttle for both receivers: the same address is refused on SMTP too.
        Assert.StartsWith("454 4.7.0", await AuthenticateAsync(config.Receiver, IPAddress.Loopback, "apa", "banan", trustedOnly: false));

        using var other = HttpFrom(IPAddress.Parse("127.0.0.2"));
        using var accepted = await SendAsync(other, config, "admin:secret");
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
    }

    [Fact]
    public async Task Past_the_receiving_memory_the_http_api_answers_503_with_retry_after()
    {
        var config = WriteConfig();
        var text = File.ReadAllText(config.CustomerFile);
        File.WriteAllText(config.CustomerFile, Regex.Replace(text, "^httpreceiver:\n", "httpreceiver:\n  max-message-size: 1048576\n  max-receiving-megabytes: 1\n", RegexOptions.Multiline));
        await using var mailer = await RunningMailer.StartAsync(config, [RoleNames.HttpReceiver]);

        // A request that announces a whole megabyte and sends a few bytes holds the budget while it lasts. One that
        // arrives while a probe's body is being received is itself refused (its megabyte does not fit beside the
        // probe's bytes) and answered at once: then another is sent, until one holds the budget.
        LineClient? holder = null;
        Task<string?>? holderAnswer = null;
        try
        {
            using var client = new HttpClient();
            using var refused = await Eventually.GetAsync(async () =>
            {
                if (holderAnswer is { IsCompletedSuccessfully: true })
                {
                    holder!.Dispose();
                    holder = null;
                }
                if (holder is null)
                {
                    holder = await ConnectAsync(new IPEndPoint(IPAddress.Loopback, config.HttpPort));
                    await holder.WriteAsync($"POST /v1/mail/send HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:secret"))}\r\n"
                        + "Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\nFrom: a");
                    holderAnswer = holder.ReadLineAsync();
                }
                var response = await SendAsync(client, config, "admin:secret");
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    return response;
                }
                response.Dispose();
                return null;
            }, Deadline, "a 503 while the first body is received");
            Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero, "503 without Retry-After");
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        }
        finally
        {
            holder?.Dispose();
            if (holderAnswer is not null)
            {
                await ((Task)holderAnswer).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
            }
        }

        // The holder is gone, its memory with it.
        using var again = new HttpClient();
        using var accepted = await Eventually.GetAsync(async () =>
        {
            var response = await SendAsync(again, config, "admin:secret");
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return response;
            }
            response.Dispose();
            return null;
        }, Deadline, "the API to take a message again");
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
    }

    /// <summary>One connection from <paramref name="from"/>: EHLO, AUTH PLAIN; the reply to AUTH.</summary>
    private static async Task<string?> AuthenticateAsync(IPEndPoint receiver, IPAddress from, string user, string password, bool trustedOnly = true)
    {
        using var client = await ConnectAsync(receiver, from);
        Assert.StartsWith("220 ", await client.ReadReplyAsync());
        await client.WriteAsync("EHLO client.test\r\n");
        await client.ReadReplyAsync();
        if (!trustedOnly)
        {
            // Not in trusted-networks: AUTH needs TLS first.
            return await AuthenticateOverTlsAsync(client, user, password);
        }
        await client.WriteAsync($"AUTH PLAIN {Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{password}"))}\r\n");
        return await client.ReadReplyAsync();
    }

    private static async Task<string?> AuthenticateOverTlsAsync(LineClient client, string user, string password)
    {
        await client.WriteAsync("STARTTLS\r\n");
        Assert.StartsWith("220 ", await client.ReadReplyAsync());
        await using var tls = new SslStream(client.Stream, leaveInnerStreamOpen: true, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "mx.test" });
        using var reader = new StreamReader(tls, Encoding.Latin1, false, 1, leaveOpen: true);
        async Task<string?> ReplyAsync()
        {
            // Bounded by the server: a reply ends at a line without a dash, or the connection closes.
            while (true)
            {
                var line = await reader.ReadLineAsync();
                if (line is null || line.Length < 4 || line[3] != '-')
                {
                    return line;
                }
            }
        }
        await tls.WriteAsync(Encoding.Latin1.GetBytes("EHLO client.test\r\n"));
        await ReplyAsync();
        await tls.WriteAsync(Encoding.Latin1.GetBytes($"AUTH PLAIN {Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{password}"))}\r\n"));
        return await ReplyAsync();
    }

    private static HttpClient HttpFrom(IPAddress source) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(source, 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    });

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, MailerConfig config, string credentials)
    {
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(Messages.Simple(Messages.NewUuid(), "api@ok.test")));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{config.HttpPort}/v1/mail/send") { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)));
        return await client.SendAsync(request);
    }

    [Fact]
    public async Task A_limit_key_out_of_range_stops_the_start_naming_the_key()
    {
        var config = WriteConfig("  max-sessions: 0\n  proxy-protocol: maybe\n");
        var error = await Assert.ThrowsAsync<ManycoreMail.Config.ConfigException>(() => RunningMailer.StartAsync(config, [RoleNames.Receiver]));
        Assert.Contains("receiver/max-sessions", error.Message, StringComparison.Ordinal);
        Assert.Contains("receiver/proxy-protocol", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_replaced_certificate_is_served_without_a_restart()
    {
        var directory = Path.Combine(_world.Directory, "tls-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var certFile = Path.Combine(directory, "cert.pem");
        var keyFile = Path.Combine(directory, "key.pem");
        var first = WriteCertificate(certFile, keyFile, "first.test");
        var config = WriteConfig($"  tls:\n    cert-file: {certFile}\n    key-file: {keyFile}\n");
        await using var mailer = await RunningMailer.StartAsync(config, [RoleNames.Receiver]);
        Assert.Equal(first, await ServedThumbprintAsync(config.Receiver));

        var second = WriteCertificate(certFile, keyFile, "second.test");
        // Make sure the modification time moves even on a coarse clock.
        File.SetLastWriteTimeUtc(certFile, DateTime.UtcNow.AddSeconds(5));
        var served = await Eventually.GetAsync(
            async () => await ServedThumbprintAsync(config.Receiver) is var t && t == second ? t : null, Deadline, "the new certificate");
        Assert.Equal(second, served);
    }

    [Fact]
    public void A_half_written_certificate_keeps_the_previous_one()
    {
        var directory = Path.Combine(_world.Directory, "tls-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var certFile = Path.Combine(directory, "cert.pem");
        var keyFile = Path.Combine(directory, "key.pem");
        var first = WriteCertificate(certFile, keyFile, "first.test");
        // No check interval: every call looks at the files.
        var certificate = TlsCertificates.Open(certFile, keyFile, directory, "mx.test", NullLogger.Instance, TimeSpan.Zero);
        Assert.Equal(first, certificate.Current().Thumbprint);

        File.WriteAllText(certFile, "-----BEGIN CERTIFICATE-----\nMIIB\n");
        File.SetLastWriteTimeUtc(certFile, DateTime.UtcNow.AddSeconds(5));
        Assert.Equal(first, certificate.Current().Thumbprint);

        // Once the new pair is complete it is taken.
        var second = WriteCertificate(certFile, keyFile, "second.test");
        File.SetLastWriteTimeUtc(certFile, DateTime.UtcNow.AddSeconds(10));
        Assert.Equal(second, certificate.Current().Thumbprint);
    }

    [Fact]
    public void The_self_signed_default_is_generated_once_and_kept()
    {
        var storage = Path.Combine(_world.Directory, "storage-" + Guid.NewGuid().ToString("N"));
        var first = TlsCertificates.Open(null, null, storage, "mx.test", NullLogger.Instance).Current().Thumbprint;
        var again = TlsCertificates.Open(null, null, storage, "mx.test", NullLogger.Instance).Current().Thumbprint;
        Assert.Equal(first, again);
        Assert.True(File.Exists(Path.Combine(storage, "tls", "self-signed-cert.pem")));
    }

    [Fact]
    public async Task The_mx_server_accepts_the_null_sender()
    {
        var config = WriteConfig();
        await using var mailer = await RunningMailer.StartAsync(config, [RoleNames.MxServer]);
        using var client = await ConnectAsync(config.Mx);
        Assert.StartsWith("220 ", await client.ReadReplyAsync());
        await client.WriteAsync("EHLO bouncer.test\r\n");
        Assert.Equal("250 ENHANCEDSTATUSCODES", await client.ReadReplyAsync());
        await client.WriteAsync("MAIL FROM:<>\r\n");
        Assert.Equal("250 2.1.0 Sender OK", await client.ReadReplyAsync());
        await client.WriteAsync($"RCPT TO:<bounce-abc123@{TestWorld.ReturnPathDomain}>\r\n");
        Assert.StartsWith("250 ", await client.ReadReplyAsync());
        await client.WriteAsync("DATA\r\n");
        Assert.StartsWith("354 ", await client.ReadReplyAsync());
        await client.WriteAsync("Subject: Undelivered Mail\r\n\r\nsorry\r\n.\r\n");
        Assert.StartsWith("250 ", await client.ReadReplyAsync());
    }

    [Fact]
    public async Task A_stop_lets_a_transaction_finish_and_nothing_acknowledged_is_lost()
    {
        var config = WriteConfig(trusted: "[127.0.0.0/8]");
        var mailer = await RunningMailer.StartAsync(config, [RoleNames.Receiver]);
        Task stopped;
        using (var client = await ConnectAsync(config.Receiver))
        {
            await client.ReadReplyAsync();
            await client.WriteAsync("EHLO c.test\r\nMAIL FROM:<a@sender.test>\r\nRCPT TO:<b@ok.test>\r\nDATA\r\n");
            for (var i = 0; i < 4; i++)
            {
                await client.ReadReplyAsync();
            }

            // The host stops (20 s deadline in RunningMailer) while the message is under way.
            stopped = mailer.DisposeAsync().AsTask();
            // Once nobody can connect any more, the stop is under way: only then does the message go on.
            await Eventually.GetAsync(async () => await AcceptsConnectionsAsync(config.Receiver) ? null : "closed", Deadline, "the listener to close");

            await client.WriteAsync("From: a@sender.test\r\nTo: b@ok.test\r\nX-Uuid: stop0001\r\nSubject: s\r\n\r\nbody\r\n.\r\n");
            Assert.StartsWith("250 2.0.0 Queued as stop0001", await client.ReadReplyAsync());
            Assert.Equal("421 4.3.2 Service shutting down", await client.ReadReplyAsync());
        }

        await stopped;
        await using var spool = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(config.StoragePath, "spool") }, TimeProvider.System, CancellationToken.None);
        Assert.Equal(1, await spool.CountAsync("IB-MAIL-QUEUE-P1", CancellationToken.None));
    }

    private static string WriteCertificate(string certFile, string keyFile, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        // Key first, certificate last: a reloader that sees the new certificate finds its key already there.
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(certFile, certificate.ExportCertificatePem());
        return certificate.Thumbprint;
    }

    private static async Task<string?> ServedThumbprintAsync(IPEndPoint endPoint)
    {
        using var client = await ConnectAsync(endPoint);
        await client.ReadReplyAsync();
        await client.WriteAsync("EHLO tls.test\r\n");
        await client.ReadReplyAsync();
        await client.WriteAsync("STARTTLS\r\n");
        Assert.StartsWith("220 ", await client.ReadReplyAsync());
        await using var tls = new SslStream(client.Stream, leaveInnerStreamOpen: true, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "mx.test" });
        return tls.RemoteCertificate is { } remote ? X509CertificateLoader.LoadCertificate(remote.GetRawCertData()).Thumbprint : null;
    }

    private static Task<LineClient> ConnectAsync(IPEndPoint endPoint, IPAddress? from = null) => LineClient.ConnectAsync(endPoint, from);

    private static async Task<bool> AcceptsConnectionsAsync(IPEndPoint endPoint)
    {
        try
        {
            using var probe = await ConnectAsync(endPoint);
            return (await probe.ReadReplyAsync())?.StartsWith("220", StringComparison.Ordinal) == true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public void Dispose() => _world.Dispose();
}
