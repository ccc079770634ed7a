using System.Net;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>Writes the original system's two YAML files for a mailer under test, on free loopback ports.</summary>
public sealed class MailerConfig
{
    public MailerConfig(TestWorld world, string webhookUrl, string? directory = null)
    {
        Directory = directory ?? Path.Combine(world.Directory, "mailer-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        World = world;
        WebhookUrl = webhookUrl;
        ReceiverPort = FreePort.Tcp();
        HttpPort = FreePort.Tcp();
        HttpMetricsPort = FreePort.Tcp();
        MxPort = FreePort.Tcp();
        MetricsPort = FreePort.Tcp();
    }

    public TestWorld World { get; }
    public string Directory { get; }
    public string WebhookUrl { get; }
    public int ReceiverPort { get; }
    public int HttpPort { get; }
    public int HttpMetricsPort { get; }
    public int MxPort { get; }
    public int MetricsPort { get; }
    public string TrustedNetworks { get; init; } = "[]";
    public int FirstRetrySeconds { get; init; } = 1;
    public int MaxQueueLifetimeSeconds { get; init; } = 3600;
    public string? BeaconUrl { get; init; }
    /// <summary>An Npgsql connection string: the events go to PostgreSQL (<c>events/store: postgresql</c>).</summary>
    public string? EventsPostgresql { get; init; }
    /// <summary>More keys of the mxserver section, YAML indented by two spaces (e.g. <c>inbound-routes</c>).</summary>
    public string MxServerExtra { get; init; } = "";
    /// <summary>More keys of the backdata section, YAML indented by two spaces (e.g. <c>event-types</c>).</summary>
    public string BackdataExtra { get; init; } = "";
    /// <summary>More keys of the receiver section, YAML indented by two spaces (e.g. <c>in-flow-delay-seconds</c>).</summary>
    public string ReceiverExtra { get; init; } = "";

    public string GlobalFile => Path.Combine(Directory, "inboxbooster-mailer-global.yaml");
    public string CustomerFile => Path.Combine(Directory, "inboxbooster-mailer-customer.yaml");
    public string EmlDirectory => Path.Combine(Directory, "eml");
    public string StoragePath => Path.Combine(Directory, "data");

    public IPEndPoint Receiver => new(IPAddress.Loopback, ReceiverPort);
    public IPEndPoint Mx => new(IPAddress.Loopback, MxPort);

    public MailerConfig Write()
    {
        System.IO.Directory.CreateDirectory(EmlDirectory);
        File.WriteAllText(GlobalFile, """
            reliable-queue:
              queue-names:
                primary-queue: IB-MAIL-QUEUE-P0
                default-queue: IB-MAIL-QUEUE-P1
            backdata:
              queue-name: EVENT_QUEUE
            transformer:
              x-mailer: Inboxbooster-Mailer
            postfix:
              incoming-queue-name: INCOMING-TO-POSTFIX
            """);
        var beacon = BeaconUrl is null ? "" : $"      beacon-url: \"{BeaconUrl}\"\n";
        var events = EventsPostgresql is null ? "" : $"\nevents:\n  store: postgresql\n  postgresql: \"{EventsPostgresql}\"\n";
        File.WriteAllText(CustomerFile, $"""
            storage:
              path: {StoragePath}
            httpreceiver:
              bind:
                inet-interface: 127.0.0.1
                inet-port: {HttpPort}
                inet-port-metrics: {HttpMetricsPort}
              auth-logins:
                - username: admin
                  password: secret
              reliable-queue:
                redis:
                  hostname: localhost
                  port: 6379
            receiver:
              bind:
                inet-interface: 127.0.0.1
                inet-port: {ReceiverPort}
              auth-logins:
                - username: apa
                  password: banan
              ignore-smtp-mail-from-rcpt-to: true
              trusted-networks: {TrustedNetworks}
            {ReceiverExtra}
              reliable-queue:
                redis:
                  hostname: localhost
                  port: 6379
              prometheus:
                inet-interface: 127.0.0.1
                inet-port: {MetricsPort}
            transformer:
              email-headers:
                inject:
                  List-Unsubscribe: "<mailto:unsub-{"{{uuid}}"}@{"{{from-domain}}"}>"
              domain-settings:
                - domain: {TestWorld.SenderDomain}
                  dkim-private-key-file: {World.DkimKeyFile}
                  return-path-domain: {TestWorld.ReturnPathDomain}
                  selector: {TestWorld.Selector}
            {beacon}  feedback-id:
                campaign-id: test-campaign
                mail-type: test-mailtype
                sender-id: example-sender
            sender:
              dns-servers: ["{World.Dns.EndPoint}"]
              smtp-port: {World.SmtpPort}
              helo-name: mailer.sender.test
              first-retry-seconds: {FirstRetrySeconds}
              max-retry-seconds: {FirstRetrySeconds}
              # A test that swaps one peer for another must not wait out a minute of site back-off
              # when a retry lands in the gap between them.
              site-backoff-seconds: 1
              max-site-backoff-seconds: 1
              max-queue-lifetime-seconds: {MaxQueueLifetimeSeconds}
            mxserver:
              bind:
                inet-interface: 127.0.0.1
                inet-port: {MxPort}
              eml-directory: {EmlDirectory}
            {MxServerExtra}
            backdata:
              post-url: {WebhookUrl}
            {BackdataExtra}
            """ + events);
        return this;
    }
}
