using System.Net;
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
        var config = WriteConfig("  proxy-protocol: true\n  max-sessions-per-client: 1\n  command-timeout-seconds: 30\n", trusted: "[10.0.0.0/8]");
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

        // Without a header: closed without a word.
        using var direct = await ConnectAsync(config.Receiver);
        await direct.WriteAsync("EHLO direct.test\r\n");
        Assert.Null(await direct.ReadLineAsync());
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

    private static async Task<LineClient> ConnectAsync(IPEndPoint endPoint)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(endPoint);
        return new LineClient(tcp);
    }

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

    /// <summary>Reads replies line by line; <see cref="ReadReplyAsync"/> returns a reply's last line.</summary>
    private sealed class LineClient(TcpClient tcp) : IDisposable
    {
        private readonly StreamReader _reader = new(tcp.GetStream(), Encoding.Latin1, false, 1, leaveOpen: true);

        public NetworkStream Stream => tcp.GetStream();

        public Task WriteAsync(string text) => Stream.WriteAsync(Encoding.Latin1.GetBytes(text)).AsTask();

        public async Task<string?> ReadLineAsync()
        {
            using var timeout = new CancellationTokenSource(Deadline);
            try
            {
                return await _reader.ReadLineAsync(timeout.Token);
            }
            catch (IOException)
            {
                return null;
            }
        }

        public async Task<string?> ReadReplyAsync()
        {
            // Bounded by the server: a reply ends at a line without a dash, or the connection closes.
            while (true)
            {
                var line = await ReadLineAsync();
                if (line is null || line.Length < 4 || line[3] != '-')
                {
                    return line;
                }
            }
        }

        public void Dispose()
        {
            _reader.Dispose();
            tcp.Dispose();
        }
    }
}
