using System.Net;
using ManycoreMail.Roles.MxServer;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>The pipeline seed's hand-off for real: a private Postfix routes the alias domain to a pipe transport
/// that curls the message to POST /v1/email. While our API answers 503 (its relay is down) the pipe exits 75 and
/// Postfix defers; once the relay is up, Postfix's retry is forwarded with an SRS envelope sender.</summary>
public sealed class ForwardingPostfixTests(TestWorld world) : IClassFixture<TestWorld>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Postfix_pipe_to_v1_email_defers_on_503_and_forwards_when_we_recover()
    {
        using var webhook = new WebhookListener();
        var relay = new IPEndPoint(TestWorld.MxAddresses["other.test"], world.SmtpPort);
        var httpPort = FreePort.Tcp();
        var config = ForwardingTests.WriteConfig(world, webhook.Url, ForwardingTests.Route("relay", relay) + ForwardingTests.HttpBind(httpPort));
        await using var mailer = await RunningMailer.StartAsync(config);
        using var postfix = await PrivatePostfix.StartAsync(world.Directory, $"http://127.0.0.1:{httpPort}/v1/email", ForwardingTests.Psk, "alias.test");

        var (code, output) = await Swaks.SendAsync(postfix.Smtp, "From: carol@orig.test\r\nSubject: through postfix\r\n\r\nHello\r\n",
            "--from", "carol@orig.test", "--to", "info@alias.test");
        Assert.True(code == 0, output);

        // Our API answers 503 (the relay is down): the pipe exits 75 and Postfix keeps the mail.
        await Eventually.TrueAsync(() => postfix.Log.Contains("status=deferred", StringComparison.Ordinal), Patience, "Postfix deferring the mail\n" + postfix.Log);
        Assert.Contains("relay=curl_email", postfix.Log, StringComparison.Ordinal);
        Assert.Contains("mxserver_forward_deferred_total", mailer.Metrics(), StringComparison.Ordinal);
        Assert.DoesNotContain("status=sent", postfix.Log, StringComparison.Ordinal);

        using var sink = await SmtpSink.StartAsync(relay.Address, relay.Port);
        await postfix.FlushAsync();
        var forwarded = Assert.Single(await sink.WaitForMessagesAsync(1, Patience));
        Assert.Equal(["alice@ok.test", "bob@ok.test"], forwarded.Recipients);
        Assert.Equal("carol@orig.test", new SrsRewriter([ForwardingTests.Secret], TestWorld.ReturnPathDomain).Reverse(forwarded.MailFrom, DateTimeOffset.UtcNow).Address);
        Assert.Contains("X-Original-To: info@alias.test", forwarded.Text, StringComparison.Ordinal);
        Assert.Contains("Subject: through postfix", forwarded.Text, StringComparison.Ordinal);
        await Eventually.TrueAsync(() => postfix.Log.Contains("status=sent", StringComparison.Ordinal), Patience, "Postfix logging the hand-off as sent\n" + postfix.Log);
    }

    /// <summary>A Postfix instance of our own (own config, queue and data directories; the system's meta files),
    /// listening on a free loopback port and piping one domain to curl.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private sealed class PrivatePostfix : IDisposable
    {
        private readonly string _directory;

        private PrivatePostfix(string directory, IPEndPoint smtp)
        {
            _directory = directory;
            Smtp = smtp;
        }

        public IPEndPoint Smtp { get; }

        private string ConfigDirectory => Path.Combine(_directory, "conf");

        public string Log => File.Exists(Path.Combine(_directory, "maillog")) ? File.ReadAllText(Path.Combine(_directory, "maillog")) : "";

        public static async Task<PrivatePostfix> StartAsync(string parent, string url, string psk, string domain)
        {
            var directory = Path.Combine(parent, "pf-" + Guid.NewGuid().ToString("N")[..8]);
            foreach (var sub in new[] { "conf", "queue", "data", "bin" })
            {
                Directory.CreateDirectory(Path.Combine(directory, sub));
            }
            // The pipe runs as nobody: it must reach the script.
            File.SetUnixFileMode(directory, (UnixFileMode)0b111_101_101);
            File.SetUnixFileMode(Path.Combine(directory, "bin"), (UnixFileMode)0b111_101_101);
            var (chown, chownOutput) = await PeerProcess.RunAsync("/bin/chown", ["postfix", Path.Combine(directory, "data")], TimeSpan.FromSeconds(10));
            Assert.True(chown == 0, chownOutput);

            // As the seed's curl-email.sh, with the HTTP status mapped to sysexits: 75 (EX_TEMPFAIL) makes Postfix
            // defer and retry, 69 (EX_UNAVAILABLE) bounce.
            var script = Path.Combine(directory, "bin", "curl-email.sh");
            File.WriteAllText(script, $$"""
                #!/bin/sh
                code=$(/usr/bin/curl -sS -o /dev/null -w '%{http_code}' --max-time 60 -X POST \
                  -H 'Authorization: Bearer {{psk}}' -H 'Content-Type: message/rfc822' \
                  --data-binary @- --url-query "recipient=$1" '{{url}}') || exit 75
                case "$code" in
                  2??) exit 0 ;;
                  400|404|413|422) exit 69 ;;
                  *) exit 75 ;;
                esac

                """);
            File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);

            var port = FreePort.Tcp();
            File.WriteAllText(Path.Combine(directory, "conf", "main.cf"), $"""
                compatibility_level = 3.6
                queue_directory = {directory}/queue
                data_directory = {directory}/data
                meta_directory = /etc/postfix
                maillog_file = {directory}/maillog
                maillog_file_prefixes = {directory}
                inet_interfaces = 127.0.0.1
                inet_protocols = ipv4
                myhostname = pipe-postfix.test
                mydestination =
                mynetworks = 127.0.0.0/8
                smtpd_relay_restrictions = permit_mynetworks, reject
                alias_maps =
                alias_database =
                transport_maps = inline:{"{"} {domain}=curl_email: {"}"}
                curl_email_destination_recipient_limit = 1
                queue_run_delay = 1s
                minimal_backoff_time = 1s
                maximal_backoff_time = 2s
                smtp_tls_security_level = none

                """);
            File.WriteAllText(Path.Combine(directory, "conf", "master.cf"), $"""
                127.0.0.1:{port} inet n - n - - smtpd
                pickup    unix  n       -       n       60      1       pickup
                cleanup   unix  n       -       n       -       0       cleanup
                qmgr      unix  n       -       n       300     1       qmgr
                rewrite   unix  -       -       n       -       -       trivial-rewrite
                bounce    unix  -       -       n       -       0       bounce
                defer     unix  -       -       n       -       0       bounce
                trace     unix  -       -       n       -       0       bounce
                verify    unix  -       -       n       -       1       verify
                flush     unix  n       -       n       1000?   0       flush
                proxymap  unix  -       -       n       -       -       proxymap
                smtp      unix  -       -       n       -       -       smtp
                relay     unix  -       -       n       -       -       smtp
                showq     unix  n       -       n       -       -       showq
                error     unix  -       -       n       -       -       error
                retry     unix  -       -       n       -       -       error
                discard   unix  -       -       n       -       -       discard
                anvil     unix  -       -       n       -       1       anvil
                scache    unix  -       -       n       -       1       scache
                postlog   unix-dgram n  -       n       -       1       postlogd
                curl_email unix -       n       n       -       -       pipe
                  flags=ORq user=nobody argv={script} ${"{"}original_recipient{"}"}

                """);
            var postfix = new PrivatePostfix(directory, new IPEndPoint(IPAddress.Loopback, port));
            var (code, output) = await PeerProcess.RunAsync("/usr/sbin/postfix", ["-c", postfix.ConfigDirectory, "start"], TimeSpan.FromSeconds(30));
            if (code != 0)
            {
                postfix.Dispose();
                Assert.Fail("postfix start failed: " + output + postfix.Log);
            }
            try
            {
                await Eventually.TrueAsync(() => CanConnect(postfix.Smtp), TimeSpan.FromSeconds(20), "Postfix's smtpd\n" + postfix.Log);
            }
            catch
            {
                postfix.Dispose();
                throw;
            }
            return postfix;
        }

        /// <summary>Retry the deferred mail now (postqueue -f), rather than at the next queue run.</summary>
        public async Task FlushAsync()
        {
            var (code, output) = await PeerProcess.RunAsync("/usr/sbin/postqueue", ["-c", ConfigDirectory, "-f"], TimeSpan.FromSeconds(30));
            Assert.True(code == 0, output);
        }

        public void Dispose()
        {
            Postfix("stop");
            // The master lets its children finish; wait for it (bounded), then make sure.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (Postfix("status") == 0 && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(50);
            }
            if (Postfix("status") == 0)
            {
                Postfix("abort");
            }
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // best effort: the world's directory goes too
            }
        }

        private int Postfix(string command) =>
            PeerProcess.RunAsync("/usr/sbin/postfix", ["-c", ConfigDirectory, command], TimeSpan.FromSeconds(30)).GetAwaiter().GetResult().ExitCode;

        private static bool CanConnect(IPEndPoint endPoint)
        {
            try
            {
                using var client = new System.Net.Sockets.TcpClient();
                client.Connect(endPoint);
                return true;
            }
            catch (System.Net.Sockets.SocketException)
            {
                return false;
            }
        }
    }
}
