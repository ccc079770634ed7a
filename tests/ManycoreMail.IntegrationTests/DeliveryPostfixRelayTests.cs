using System.Net;
using System.Net.Http.Headers;
using System.Runtime.Versioning;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>Relay mode against a real smarthost: a private Postfix as a submission relay (STARTTLS with a certificate
/// the test made, SASL AUTH through Cyrus SASL and a sasldb, relaying only for authenticated clients) that hands
/// everything to smtp-sink. The mailer trusts that certificate through <c>relay/ca-file</c>, so verification stays on.
/// No recipient domain has an MX: only the relay can deliver.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class DeliveryPostfixRelayTests(TestWorld world) : IClassFixture<TestWorld>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Relay_mode_delivers_through_postfix_over_starttls_with_auth_plain_signed_and_verp()
    {
        await using var relay = await SaslRelay.StartAsync(world.Directory);
        using var webhook = new WebhookListener();
        var config = RelayConfig(webhook.Url, relay, SaslRelay.Password);
        await using var mailer = await RunningMailer.StartAsync(config);
        var uuid = Messages.NewUuid();

        await SubmitAsync(config, Messages.Simple(uuid, "reader@far.example"));

        var sent = Assert.Single(await relay.Sink.WaitForMessagesAsync(1, Patience));
        Assert.Equal(["reader@far.example"], sent.Recipients);
        Assert.Equal($"bounce-{uuid}@{TestWorld.ReturnPathDomain}", sent.MailFrom);
        // Postfix's own trace of the hop: TLS and AUTH (ESMTPSA), as our relay user.
        Assert.Matches(@"with ESMTPSA id \w+", sent.Text);
        Assert.Contains($"(Authenticated sender: {SaslRelay.SaslName})", sent.Text, StringComparison.Ordinal);
        var (valid, verifierOutput) = await world.VerifyDkimAsync(sent.Message);
        Assert.True(valid, verifierOutput + "\n" + sent.Text);
        Assert.Equal("PLAIN", relay.SaslMethodOf(uuid));

        var delivered = await webhook.WaitForAsync(e => (string?)e["uuid"] == uuid && (string?)e["event"] == "delivered", Patience, "delivered event");
        Assert.Equal("reader@far.example", (string?)delivered["email"]);
        Assert.Equal("127.0.0.1", (string?)delivered["ip"]);
        Assert.DoesNotContain(webhook.Events, e => (string?)e["uuid"] == uuid && (string?)e["event"] != "delivered");
    }

    [Fact]
    public async Task Relay_mode_authenticates_with_login_when_the_relay_offers_no_plain()
    {
        // The same sasldb and Cyrus configuration; smtpd just stops offering PLAIN.
        await using var relay = await SaslRelay.StartAsync(world.Directory, "smtpd_sasl_mechanism_filter = login");
        using var webhook = new WebhookListener();
        var config = RelayConfig(webhook.Url, relay, SaslRelay.Password);
        await using var mailer = await RunningMailer.StartAsync(config);
        var uuid = Messages.NewUuid();

        await SubmitAsync(config, Messages.Simple(uuid, "one@far.example, two@elsewhere.example"));

        // One transaction or one per domain: whichever the engine chose, both recipients arrive.
        var sent = await Eventually.GetAsync(() => Task.FromResult(
            relay.Sink.Messages() is { } all && all.Sum(m => m.Recipients.Count) >= 2 ? all : null), Patience, "both recipients at the sink");
        Assert.Equal(["one@far.example", "two@elsewhere.example"], sent.SelectMany(m => m.Recipients).Order());
        Assert.All(sent, m => Assert.Equal($"bounce-{uuid}@{TestWorld.ReturnPathDomain}", m.MailFrom));
        Assert.All(sent, m => Assert.Contains($"(Authenticated sender: {SaslRelay.SaslName})", m.Text, StringComparison.Ordinal));
        Assert.Equal("LOGIN", relay.SaslMethodOf(uuid));
        var (valid, verifierOutput) = await world.VerifyDkimAsync(sent[0].Message);
        Assert.True(valid, verifierOutput + "\n" + sent[0].Text);

        var events = await Eventually.GetAsync(() => Task.FromResult(
            webhook.Events.Where(e => (string?)e["uuid"] == uuid && (string?)e["event"] == "delivered").ToArray() is { Length: 2 } both ? both : null),
            Patience, "two delivered events");
        Assert.Equal(["one@far.example", "two@elsewhere.example"], events.Select(e => (string?)e["email"]).Order());
    }

    [Fact]
    public async Task A_wrong_relay_password_is_refused_and_the_message_is_deferred_not_bounced()
    {
        await using var relay = await SaslRelay.StartAsync(world.Directory);
        using var webhook = new WebhookListener();
        var config = RelayConfig(webhook.Url, relay, "not-the-password");
        await using var mailer = await RunningMailer.StartAsync(config);
        var uuid = Messages.NewUuid();

        await SubmitAsync(config, Messages.Simple(uuid, "reader@far.example"));

        var deferred = await webhook.WaitForAsync(e => (string?)e["uuid"] == uuid, Patience, "the first event of the message");
        Assert.Equal("deferred", (string?)deferred["event"]);
        Assert.Equal("reader@far.example", (string?)deferred["email"]);
        Assert.Contains("535 5.7.8", (string?)deferred["reason"], StringComparison.Ordinal);
        Assert.Contains($"SASL PLAIN authentication failed: authentication failure, sasl_username={SaslRelay.SaslName}", relay.Postfix.Log, StringComparison.Ordinal);
        // Refused at AUTH, the transaction never started: Postfix holds nothing it could hand on later.
        Assert.DoesNotContain("status=sent", relay.Postfix.Log, StringComparison.Ordinal);
        Assert.Empty(relay.Sink.Messages());
        Assert.DoesNotContain(webhook.Events, e => (string?)e["uuid"] == uuid && (string?)e["event"] != "deferred");
        Assert.Matches($"deferred_total\\{{site=\"relay:127\\.0\\.0\\.1:{relay.Postfix.Smtp.Port}\"\\}} 1", await mailer.MetricsAsync());
    }

    /// <summary>The test world's mailer with <c>sender/relay</c> pointing at the Postfix (STARTTLS on a non-587
    /// port, so said explicitly) and deferred events turned on.</summary>
    private MailerConfig RelayConfig(string webhookUrl, SaslRelay relay, string password)
    {
        var config = new MailerConfig(world, webhookUrl).Write();
        var customer = File.ReadAllText(config.CustomerFile);
        const string senderAnchor = "  helo-name: mailer.sender.test\n";
        var backdataAnchor = $"  post-url: {webhookUrl}";
        Assert.Contains(senderAnchor, customer, StringComparison.Ordinal);
        Assert.Contains(backdataAnchor, customer, StringComparison.Ordinal);
        customer = customer.Replace(senderAnchor, senderAnchor + $"""
              relay:
                host: 127.0.0.1
                port: {relay.Postfix.Smtp.Port}
                tls: starttls
                username: {SaslRelay.User}
                password: {password}
                ca-file: {relay.CaFile}

            """, StringComparison.Ordinal);
        customer = customer.Replace(backdataAnchor, backdataAnchor + "\n  event-types: [delivered, bounce, deferred]", StringComparison.Ordinal);
        File.WriteAllText(config.CustomerFile, customer);
        return config;
    }

    private static async Task SubmitAsync(MailerConfig config, string message)
    {
        using var http = new HttpClient();
        using var content = new ByteArrayContent(Messages.Bytes(message));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{config.HttpPort}/v1/mail/send") { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:secret")));
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>A private Postfix as a submission relay on a loopback port: STARTTLS with a self-signed certificate
    /// (its PEM is <see cref="CaFile"/>), AUTH PLAIN and LOGIN only after STARTTLS, checked by Cyrus SASL against a
    /// sasldb of its own; it relays for authenticated clients only, all of it to an smtp-sink.</summary>
    [UnsupportedOSPlatform("windows")]
    private sealed class SaslRelay : IAsyncDisposable
    {
        public const string User = "relayuser";
        public const string Password = "s3cret-Relay";
        private const string Realm = "relay.test";
        /// <summary>The user as Cyrus SASL names it: smtpd qualifies it with its local realm.</summary>
        public const string SaslName = User + "@" + Realm;

        private SaslRelay(PostfixInstance postfix, SmtpSink sink, string caFile)
        {
            Postfix = postfix;
            Sink = sink;
            CaFile = caFile;
        }

        public PostfixInstance Postfix { get; }
        public SmtpSink Sink { get; }
        public string CaFile { get; }

        public static async Task<SaslRelay> StartAsync(string parent, string extraSettings = "")
        {
            var sink = await SmtpSink.StartAsync(IPAddress.Loopback, FreePort.Tcp());
            PostfixInstance? postfix = null;
            try
            {
                postfix = await PostfixInstance.CreateAsync(parent, Realm);
                var caFile = WriteCertificate(postfix.Directory, out var keyFile, out var certificateFile);
                var sasl = await WriteSaslAsync(postfix);
                await postfix.StartAsync($"""
                    mynetworks = 127.0.0.1/32
                    relayhost = [{sink.EndPoint.Address}]:{sink.EndPoint.Port}
                    # Only authenticated clients may relay: being on loopback is not enough.
                    smtpd_relay_restrictions = permit_sasl_authenticated, reject
                    smtpd_tls_security_level = may
                    smtpd_tls_chain_files = {keyFile}, {certificateFile}
                    smtpd_tls_auth_only = yes
                    smtpd_sasl_auth_enable = yes
                    smtpd_sasl_type = cyrus
                    smtpd_sasl_path = smtpd
                    smtpd_sasl_local_domain = {Realm}
                    smtpd_sasl_authenticated_header = yes
                    cyrus_sasl_config_path = {sasl}
                    # The mail passes as it came: no header rewriting, no 8bit downgrade, so the DKIM signature holds.
                    local_header_rewrite_clients =
                    disable_mime_output_conversion = yes
                    # No postmaster notices: the sink is to see our mail only.
                    notify_classes =
                    {extraSettings}

                    """, """
                    tlsmgr    unix  -       -       n       1000?   1       tlsmgr

                    """);
                return new SaslRelay(postfix, sink, caFile);
            }
            catch
            {
                if (postfix is not null)
                {
                    await postfix.DisposeAsync();
                }
                sink.Dispose();
                throw;
            }
        }

        /// <summary>The SASL mechanism Postfix logged for the session that took the message <paramref name="uuid"/>
        /// (the mailer makes its Message-ID from it): cleanup names the queue id, smtpd the method for that id.</summary>
        public string SaslMethodOf(string uuid)
        {
            var log = Postfix.Log;
            var queueId = Regex.Match(log, $@"\b(\w+): message-id=<{uuid}@");
            Assert.True(queueId.Success, "Postfix never took the message\n" + log);
            var method = Regex.Match(log, $@"\b{queueId.Groups[1].Value}: client=[^,]*, sasl_method=(\w+), sasl_username={Regex.Escape(SaslName)}\b");
            Assert.True(method.Success, "no authenticated session for the message\n" + log);
            return method.Groups[1].Value;
        }

        public async ValueTask DisposeAsync()
        {
            await Postfix.DisposeAsync();
            Sink.Dispose();
        }

        /// <summary>Key and certificate for smtpd; returns the certificate's PEM as the mailer's trust anchor.</summary>
        private static string WriteCertificate(string directory, out string keyFile, out string certificateFile)
        {
            using var certificate = DeliveryHarness.SelfSigned();
            keyFile = Path.Combine(directory, "relay-key.pem");
            certificateFile = Path.Combine(directory, "relay-cert.pem");
            using var key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("the certificate has no EC key");
            File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
            File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.WriteAllText(certificateFile, certificate.ExportCertificatePem());
            var caFile = Path.Combine(directory, "relay-ca.pem");
            File.WriteAllText(caFile, certificate.ExportCertificatePem());
            return caFile;
        }

        /// <summary>Cyrus SASL's smtpd.conf and a sasldb with the relay user; returns the configuration directory.</summary>
        private static async Task<string> WriteSaslAsync(PostfixInstance postfix)
        {
            // Debian's Postfix looks for smtpd.conf in $config_directory/sasl whatever cyrus_sasl_config_path says;
            // upstream's uses cyrus_sasl_config_path. This directory is both.
            var configDirectory = Path.Combine(postfix.ConfigDirectory, "sasl");
            Directory.CreateDirectory(configDirectory);
            var database = Path.Combine(postfix.Directory, "sasldb2");
            File.WriteAllText(Path.Combine(configDirectory, "smtpd.conf"), $"""
                pwcheck_method: auxprop
                auxprop_plugin: sasldb
                mech_list: PLAIN LOGIN
                sasldb_path: {database}

                """);
            var (code, output) = await PeerProcess.RunAsync("/usr/sbin/saslpasswd2", ["-p", "-c", "-f", database, "-u", Realm, User],
                TimeSpan.FromSeconds(30), standardInput: Password);
            Assert.True(code == 0, "saslpasswd2: " + output);
            // smtpd reads the database as the postfix user; saslpasswd2 made it root's.
            var (chown, chownOutput) = await PeerProcess.RunAsync("/bin/chown", ["postfix", database], TimeSpan.FromSeconds(30));
            Assert.True(chown == 0, chownOutput);
            return configDirectory;
        }
    }
}
