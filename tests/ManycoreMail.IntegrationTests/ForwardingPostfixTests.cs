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
        await using var postfix = await PrivatePostfix.StartAsync(world.Directory, $"http://127.0.0.1:{httpPort}/v1/email", ForwardingTests.Psk, "alias.test");

        var (code, output) = await Swaks.SendAsync(postfix.Smtp, "From: carol@orig.test\r\nSubject: through postfix\r\n\r\nHello\r\n",
            "--from", "carol@orig.test", "--to", "info@alias.test");
        Assert.True(code == 0, output);

        // Our API answers 503 (the relay is down): the pipe exits 75 and Postfix keeps the mail.
        await Eventually.TrueAsync(() => postfix.Log.Contains("status=deferred", StringComparison.Ordinal), Patience, "Postfix deferring the mail\n" + postfix.Log);
        Assert.Contains("relay=curl_email", postfix.Log, StringComparison.Ordinal);
        Assert.Contains("mxserver_forward_deferred_total", await mailer.MetricsAsync(), StringComparison.Ordinal);
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

    /// <summary>A Postfix instance of our own (see <see cref="PostfixInstance"/>) piping one domain to curl.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static class PrivatePostfix
    {
        public static async Task<PostfixInstance> StartAsync(string parent, string url, string psk, string domain)
        {
            var postfix = await PostfixInstance.CreateAsync(parent, "pipe-postfix.test");
            try
            {
                // The pipe runs as nobody: it must reach the script.
                var bin = Path.Combine(postfix.Directory, "bin");
                Directory.CreateDirectory(bin);
                File.SetUnixFileMode(bin, (UnixFileMode)0b111_101_101);

                // As the seed's curl-email.sh, with the HTTP status mapped to sysexits: 75 (EX_TEMPFAIL) makes Postfix
                // defer and retry, 69 (EX_UNAVAILABLE) bounce.
                var script = Path.Combine(bin, "curl-email.sh");
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

                await postfix.StartAsync($"""
                    mynetworks = 127.0.0.0/8
                    smtpd_relay_restrictions = permit_mynetworks, reject
                    transport_maps = inline:{"{"} {domain}=curl_email: {"}"}
                    curl_email_destination_recipient_limit = 1
                    queue_run_delay = 1s
                    minimal_backoff_time = 1s
                    maximal_backoff_time = 2s

                    """, $"""
                    curl_email unix -       n       n       -       -       pipe
                      flags=ORq user=nobody argv={script} ${"{"}original_recipient{"}"}

                    """);
                return postfix;
            }
            catch
            {
                await postfix.DisposeAsync();
                throw;
            }
        }
    }
}
