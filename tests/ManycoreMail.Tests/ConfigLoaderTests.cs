using ManycoreMail.Config;

namespace ManycoreMail.Tests;

public sealed class ConfigLoaderTests
{
    internal const string Global = """
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
        """;

    private static string Customer(string keyFile) => $"""
        httpreceiver:
          bind:
            inet-interface: localhost
            inet-port: 8080
            inet-port-metrics: 9090
          auth-logins:
            - username: admin
              password: secret
          reliable-queue:
            redis:
              hostname: localhost
              port: 6379
        receiver:
          bind:
            inet-interface: 0.0.0.0
            inet-port: 587
          auth-logins:
            - username: apa
              password: banan
            - username: apa
              password: second
          ignore-smtp-mail-from-rcpt-to: true
          reliable-queue:
            redis:
              hostname: localhost
              port: 6379
          prometheus:
            inet-interface: 0.0.0.0
            inet-port: 9091
        transformer:
          email-headers:
            inject:
              List-Unsubscribe: "<mailto:unsub-{"{{uuid}}"}@{"{{from-domain}}"}>"
          domain-settings:
            - domain: Example.COM
              dkim-private-key-file: {keyFile}
              return-path-domain: returns.example.com
          feedback-id:
            campaign-id: c
            mail-type: m
            sender-id: s
        postfixlog:
          logfile: /var/log/mail.log
          postfix:
            hostname: localhost
            port: 25
          string-replacer:
            main-cf:
              myhostname: mail.example.com
              smtp_tls_security_level: may
        mxserver:
          bind:
            inet-interface: 0.0.0.0
            inet-port: 25
          eml-directory: /tmp
          abuse:
            yahoo:
              to: fbl@example.com
        backdata:
          post-url: https://hooks.example.com/events
          bounce-manager:
            cid: 1
            secret: x
            url: https://bm.example.com
        """;

    [Fact]
    public void The_original_files_load_as_they_are()
    {
        var key = Path.GetTempFileName();
        var loaded = ConfigLoader.Parse(Global, Customer(key));
        var options = loaded.Options;

        Assert.Equal(new QueueNames("IB-MAIL-QUEUE-P0", "IB-MAIL-QUEUE-P1", "INCOMING-TO-POSTFIX", "EVENT_QUEUE"), options.Queues);
        Assert.Equal(8080, options.HttpReceiver!.Bind.Port);
        Assert.Equal(9090, options.HttpReceiver.MetricsBind.Port);
        Assert.Equal("second", Assert.Single(options.Receiver!.Logins).Password);
        Assert.Equal("example.com", options.Transformer!.Domains[0].Domain);
        Assert.Equal("mailer", options.Transformer.Domains[0].Selector);
        Assert.Equal("mail.example.com", options.Sender.HeloName);
        Assert.Equal(25, options.Sender.SmtpPort);
        Assert.Equal(["returns.example.com"], options.ReturnPathDomains);
        Assert.Equal("Inboxbooster-Mailer", options.Transformer.XMailer);
        Assert.Contains(options.MetricsBinds, b => b.Role == "receiver" && b.EndPoint.Port == 9091);
        Assert.True(!loaded.Warnings.Any(w => w.Contains("unknown key")), string.Join("\n", loaded.Warnings));
    }

    [Fact]
    public void The_senders_lease_is_thirty_minutes_unless_configured_and_at_least_three_seconds()
    {
        var key = Path.GetTempFileName();
        Assert.Equal(TimeSpan.FromMinutes(30), ConfigLoader.Parse(Global, Customer(key)).Options.Sender.Lease);
        Assert.Equal(TimeSpan.FromSeconds(5), ConfigLoader.Parse(Global, Customer(key) + "\nsender:\n  lease-seconds: 5\n").Options.Sender.Lease);
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, Customer(key) + "\nsender:\n  lease-seconds: 1\n", "g.yaml", "c.yaml"));
        Assert.Contains(error.Problems, p => p.StartsWith("c.yaml: sender/lease-seconds:", StringComparison.Ordinal));
    }

    [Fact]
    public void Unknown_keys_are_warned_about_with_their_path()
    {
        var key = Path.GetTempFileName();
        var loaded = ConfigLoader.Parse(Global, Customer(key) + "\nreceiver2:\n  x: 1\n", "g.yaml", "c.yaml");

        Assert.Contains("c.yaml: receiver2: unknown key, ignored", loaded.Warnings);
    }

    [Fact]
    public void Every_problem_is_reported_at_once_naming_file_and_key()
    {
        var customer = """
            receiver:
              bind:
                inet-interface: 127.0.0.1
                inet-port: seventy
            transformer:
              email-headers:
                inject:
                  List-Unsubscribe: x
              domain-settings:
                - domain: example.com
                  dkim-private-key-file: /nonexistent/key.pem
            backdata:
              post-url: ftp://example.com
            """;

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("backdata: {}\n", customer, "g.yaml", "c.yaml"));

        Assert.Contains("g.yaml: reliable-queue/queue-names/primary-queue: is required", error.Problems);
        Assert.Contains("g.yaml: backdata/queue-name: is required", error.Problems);
        Assert.Contains("c.yaml: receiver/bind/inet-port: 'seventy' is not a whole number", error.Problems);
        Assert.Contains("c.yaml: transformer/domain-settings[0]/return-path-domain: is required", error.Problems);
        Assert.Contains("c.yaml: backdata/post-url: 'ftp://example.com' is not an http(s) URL", error.Problems);
    }

    [Fact]
    public void Null_x_mailer_means_no_x_mailer()
    {
        var key = Path.GetTempFileName();
        var loaded = ConfigLoader.Parse(Global.Replace("x-mailer: Inboxbooster-Mailer", "x-mailer:"), Customer(key));

        Assert.Null(loaded.Options.Transformer!.XMailer);
    }

    [Fact]
    public void The_built_in_local_configuration_is_valid()
    {
        var directory = Directory.CreateTempSubdirectory();
        var previous = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = directory.FullName;
            LocalDefaults.Prepare();
            var loaded = ConfigLoader.Parse(LocalDefaults.GlobalYaml, LocalDefaults.CustomerYaml);
            Assert.True(loaded.Warnings.Count == 0, string.Join("\n", loaded.Warnings));
            Assert.Equal(2587, loaded.Options.Receiver!.Bind.Port);
            Assert.True(loaded.Options.Receiver.Bind.Address.Equals(System.Net.IPAddress.Loopback));
        }
        finally
        {
            Environment.CurrentDirectory = previous;
            directory.Delete(recursive: true);
        }
    }
}
